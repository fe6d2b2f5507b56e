from finebench.cli import main

main()
