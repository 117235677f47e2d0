"""Every default size and time limit, in one place."""

# Upstream timeouts (seconds); config.json "timeouts" and `dario proxy --*-timeout` override them.
# client_body: how long a client may take to send the body it announced (Content-Length) -> 408.
# keepalive: a stream that sent the client nothing for this long gets the protocol's keep-alive
# (clients such as Claude Code give up on a stream silent for ~15 s; a reasoning model may think longer).
TIMEOUTS = {"connect": 10.0, "first_byte": 600.0, "idle": 300.0, "client_body": 60.0, "keepalive": 10.0}
MAX_REQUEST_BODY = 64 * 1024 * 1024  # larger than any provider accepts; beyond it: 413
ERROR_BODY_CAP = 64 * 1024  # how much of an upstream error body is read, relayed and stored
CAPTURE_CAP = 262144  # request/response bytes kept per call in telemetry (telemetry.body_cap_bytes)
QUEUE_TIMEOUT = 60.0  # how long a call may wait for a key with headroom or a client-side limit
