from nexus_sync.cli import main

main()
