from dario.cli import main

main()
