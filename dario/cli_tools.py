"""`dario doctor`, `dario mcp`, `dario subagent`: asking dario what is wrong, from a shell or an editor.

Everything heavy (aiohttp, the MCP SDK) is imported inside the commands, so
`dario --help` and the shim's start-up don't pay for it.
"""

from __future__ import annotations

import json

import typer

from dario.store.home import dario_home

_MARK = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


def _print_table(checks: list[dict]) -> None:
    width = max(len(c["name"]) for c in checks)
    for c in checks:
        label, color = _MARK.get(c["status"], (c["status"], None))
        typer.echo(f"{typer.style(f'{label:<4}', fg=color, bold=True)}  {c['name']:<{width}}  {c['detail']}")
    fails = sum(c["status"] == "fail" for c in checks)
    warns = sum(c["status"] == "warn" for c in checks)
    typer.echo(f"\n{fails} failed, {warns} warning(s)" if fails or warns else "\nall checks passed")


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_cmd(as_json: bool = typer.Option(False, "--json", help='Print {"checks": [...]}.'),
                   proxy_port: int = typer.Option(3456, "--proxy-port", help="Where to look for a running "
                                                                             "dario proxy.")) -> None:
        """Check dario's install, config, backends and store; exit 1 if any check fails.

        Examples: dario doctor · dario doctor --json
        """
        from dario.doctor import exit_code, report

        checks = report(dario_home(), proxy_port)["checks"]
        if as_json:
            typer.echo(json.dumps({"checks": checks}, indent=2))
        else:
            _print_table(checks)
        raise typer.Exit(exit_code(checks))

    @app.command("mcp")
    def mcp_cmd() -> None:
        """Serve dario's read-only tools (doctor, backends, usage, calls, status) to MCP clients over stdio.

        Example: claude mcp add dario -- dario mcp
        """
        try:
            import mcp  # noqa: F401
        except ImportError:
            typer.echo("dario: the MCP SDK is not installed: pip install 'dario[mcp]'", err=True)
            raise typer.Exit(2)
        from dario.mcp_server import serve
        serve()

    sub = typer.Typer(no_args_is_help=True, help="The Claude Code sub-agent that runs dario's read-only "
                                                 "commands for you.")
    app.add_typer(sub, name="subagent")

    @sub.command("install")
    def sub_install(force: bool = typer.Option(False, "--force", help="Replace a dario.md dario didn't "
                                                                      "write.")) -> None:
        """Write (or refresh) the sub-agent file.

        Example: dario subagent install
        """
        from dario import subagent
        try:
            st = subagent.install(force)
        except (FileExistsError, OSError) as e:
            typer.echo(f"dario: {e}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{st.path}: {st.describe()}")

    @sub.command("status")
    def sub_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Say whether the sub-agent is installed, and current or stale.

        Example: dario subagent status
        """
        from dario import subagent
        st = subagent.state()
        if as_json:
            typer.echo(json.dumps({"path": str(st.path), "status": st.status, "version": st.version}))
        else:
            typer.echo(f"{st.path}: {st.describe()}")

    @sub.command("remove")
    def sub_remove() -> None:
        """Delete the sub-agent file (nothing to do if it isn't there).

        Example: dario subagent remove
        """
        from dario import subagent
        try:
            removed = subagent.remove()
        except FileExistsError as e:
            typer.echo(f"dario: {e}", err=True)
            raise typer.Exit(1)
        typer.echo(f"removed {subagent.agent_path()}" if removed else "not installed: nothing to remove")
