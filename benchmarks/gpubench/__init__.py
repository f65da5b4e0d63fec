"""Helpers of ``benchmarks/gpu.py``: model shapes and FLOPs, folders and texts, the encoding
options it measures, the LoRA step, and the results file. Nothing here is imported by the
diffsearch packages; it only drives their public API (and, for the options, their backbones).
"""
