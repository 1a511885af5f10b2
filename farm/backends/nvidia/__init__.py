"""The NVIDIA backend: NVDEC decode, CuPy kernels, NVENC (or host x264/x265) encode, Annex-B mux."""
