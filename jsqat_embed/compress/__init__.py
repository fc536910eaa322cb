"""Weight compression TFLM itself decodes (DECODE: PRUNING, LUT)."""
