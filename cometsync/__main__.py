"""`python -m cometsync`: the same CLI as the `cometsync` console script."""

from cometsync.cli.main import main

if __name__ == "__main__":
    main()
