from hypercli.cli.main import main

main()
