"""One TFLM reference int8 kernel per module; see registry.py for the table."""
