"""python -m mcalc"""
from .cli import entry

entry()
