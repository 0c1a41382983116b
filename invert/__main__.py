"""`python -m invert` is the same as the `stylegan-invert` console script."""
from invert.cli import main

if __name__ == "__main__":
    main()
