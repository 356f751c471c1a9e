"""python -m mcalc"""
from .shell import entry

entry()
