// Separable resampling of float images: the CuPy twin of farm.kernels.resize.
//
// The taps come from farm.kernels._resize.resize_weights: output index o reads
// source indices start[o] + k (clamped; taps outside the image have weight 0)
// with weights[o * taps + k].

// src (rows, in_w, channels) -> dst (rows, out_w, channels)
extern "C" __global__ void farm_resize_h(const float* __restrict__ src, float* __restrict__ dst,
                                         int rows, int in_w, int out_w, int channels,
                                         const int* __restrict__ start, const float* __restrict__ weights,
                                         int taps) {
    long long total = (long long)rows * out_w * channels;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int c = (int)(i % channels);
        long long pixel = i / channels;
        int x = (int)(pixel % out_w);
        long long row = pixel / out_w;
        const float* line = src + row * in_w * channels;
        const float* w = weights + (long long)x * taps;
        int s = start[x];
        float acc = 0.0f;
        for (int k = 0; k < taps; ++k) {
            int xi = min(max(s + k, 0), in_w - 1);
            acc += w[k] * line[(long long)xi * channels + c];
        }
        dst[i] = acc;
    }
}

// src (in_h, row_len) -> dst (out_h, row_len), where row_len = width * channels
extern "C" __global__ void farm_resize_v(const float* __restrict__ src, float* __restrict__ dst,
                                         int in_h, int out_h, int row_len,
                                         const int* __restrict__ start, const float* __restrict__ weights,
                                         int taps) {
    long long total = (long long)out_h * row_len;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int col = (int)(i % row_len);
        int y = (int)(i / row_len);
        const float* w = weights + (long long)y * taps;
        int s = start[y];
        float acc = 0.0f;
        for (int k = 0; k < taps; ++k) {
            int yi = min(max(s + k, 0), in_h - 1);
            acc += w[k] * src[(long long)yi * row_len + col];
        }
        dst[i] = acc;
    }
}
