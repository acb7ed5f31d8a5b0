"""Test-wide defaults: notebooks run in the smoke profile without progress
bars unless the caller's environment says otherwise."""
import os

os.environ.setdefault("LAB_PROFILE", "smoke")
os.environ.setdefault("LAB_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
