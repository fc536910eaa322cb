"""Memory: TFLM's arena reproduced from the model, flash and RAM estimates, board fit."""
