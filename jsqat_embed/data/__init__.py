"""Datasets: BreakHis and class-per-folder readers, patient-level splits (no TensorFlow)."""
