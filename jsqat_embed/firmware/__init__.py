"""Firmware: template context computed in Python, rendered from firmware_templates/ with Jinja2."""
