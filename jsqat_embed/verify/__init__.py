"""Comparing the emulator with the reference interpreters."""
