"""KISS FFT v1.3.0 as TFLM's signal library builds it (``signal/src/kiss_fft_wrappers``).

``kiss_fftr`` (a real FFT through a half-length complex FFT) for the three
scalar types TFLM compiles: int16 (``FIXED_POINT 16``), int32 (``FIXED_POINT
32``) and float. The fixed-point builds scale every butterfly stage down by its
radix (``C_FIXDIV``) and round products with ``sround``; the C's arithmetic is
reproduced operation by operation (sums in int, stores wrapping to the scalar
type; float sums in the C's order, float32 throughout).

The mixed-radix recursion (``kf_work``) writes its leaves in a digit-reversed
order and recombines them stage by stage; here the leaves are gathered once and
each stage's butterflies run on every segment and index at once. Twiddles come
from the C's double-precision formulas, computed with the platform libm
(``math.cos``/``math.sin``, the functions the C calls).
"""

from __future__ import annotations

import math

import numpy as np

PI_KISS_FFT = 3.141592653589793238462643383279502884197169399375105820974944
PI_KISS_FFTR = 3.14159265358979323846264338327


class _Fixed:
    """Scalar semantics of a FIXED_POINT build (values held in int64 arrays)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.frac_bits = bits - 1
        self.samp_max = (1 << (bits - 1)) - 1
        self.dtype = np.int16 if bits == 16 else np.int32

    def store(self, x):
        """Assignment to kiss_fft_scalar: keep the low bits (two's complement)."""
        half = np.int64(1) << (self.bits - 1)
        return ((np.asarray(x, dtype=np.int64) + half) & ((half << 1) - 1)) - half

    def _sround(self, product):
        if self.bits == 16:  # SAMPPROD is int32 there
            product = ((product + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        return self.store((product + (np.int64(1) << (self.frac_bits - 1))) >> self.frac_bits)

    def s_mul(self, a, b):
        """``S_MUL``: sround(smul(a, b)); smul widens to SAMPPROD (int64 here, wrapping)."""
        return self._sround(np.multiply(a, b, dtype=np.int64))

    def c_mul(self, ar, ai, br, bi):
        """``C_MUL``: complex product, each part rounded once."""
        with np.errstate(over="ignore"):
            real = np.multiply(ar, br, dtype=np.int64) - np.multiply(ai, bi, dtype=np.int64)
            imag = np.multiply(ar, bi, dtype=np.int64) + np.multiply(ai, br, dtype=np.int64)
        return self._sround(real), self._sround(imag)

    def fix_div(self, x, k: int):
        """``DIVSCALAR``: x * (SAMP_MAX / k), rounded."""
        return self.s_mul(x, self.samp_max // k)

    def half_of(self, x):
        """``HALF_OF``: an int expression (32-bit) shifted right by one."""
        x = ((np.asarray(x, dtype=np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        return x >> 1

    def twiddle(self, phase: float):
        return (math.floor(0.5 + self.samp_max * math.cos(phase)), math.floor(0.5 + self.samp_max * math.sin(phase)))

    def zeros(self, shape):
        return np.zeros(shape, dtype=np.int64)

    def load(self, x):
        return np.asarray(x, dtype=np.int64)


class _Float:
    """Scalar semantics of the float build: float32 values, C evaluation order."""

    dtype = np.float32

    def store(self, x):
        return np.asarray(x, dtype=np.float32)

    def s_mul(self, a, b):
        return np.float32(a) * b if np.isscalar(a) else a * np.float32(b)

    def c_mul(self, ar, ai, br, bi):
        return ar * br - ai * bi, ar * bi + ai * br

    def fix_div(self, x, k: int):
        return x

    def half_of(self, x):
        return x * np.float32(0.5)

    def twiddle(self, phase: float):
        return (np.float32(math.cos(phase)), np.float32(math.sin(phase)))

    def zeros(self, shape):
        return np.zeros(shape, dtype=np.float32)

    def load(self, x):
        return np.asarray(x, dtype=np.float32)


def scalar_type(dtype: str):
    if dtype == "int16":
        return _Fixed(16)
    if dtype == "int32":
        return _Fixed(32)
    if dtype == "float32":
        return _Float()
    raise ValueError(f"KISS FFT has no {dtype} build in TFLM")


def kf_factor(n: int) -> list[tuple[int, int]]:
    """``kf_factor``: radix 4 first, then 2, then odd primes; (p, m) per stage."""
    stages = []
    p = 4
    floor_sqrt = math.floor(math.sqrt(float(n)))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        stages.append((p, n))
        if n <= 1:
            return stages


class ComplexFft:
    """``kiss_fft`` of one length and direction (the twiddles and the stage plan of ``kiss_fft_alloc``)."""

    def __init__(self, nfft: int, inverse: bool, scalar) -> None:
        self.nfft = nfft
        self.inverse = inverse
        self.s = scalar
        twiddles = []
        for i in range(nfft):
            phase = -2 * PI_KISS_FFT * i / nfft
            if inverse:
                phase *= -1
            twiddles.append(scalar.twiddle(phase))
        self.tw_r = scalar.load([t[0] for t in twiddles])
        self.tw_i = scalar.load([t[1] for t in twiddles])
        self.stages = kf_factor(nfft)
        self.leaf_order = np.asarray(self._order(0, 1, 0), dtype=np.int64)

    def _order(self, offset: int, fstride: int, stage: int) -> list[int]:
        """Input index written to each position of Fout by kf_work's copies."""
        p, m = self.stages[stage]
        if m == 1:
            return [offset + k * fstride for k in range(p)]
        order: list[int] = []
        for k in range(p):
            order += self._order(offset + k * fstride, fstride * p, stage + 1)
        return order

    def __call__(self, real, imag):
        """(samples, nfft) real and imaginary parts -> the transform, same layout."""
        fr = real[:, self.leaf_order]
        fi = imag[:, self.leaf_order]
        samples = fr.shape[0]
        strides = [1]
        for p, _ in self.stages[:-1]:
            strides.append(strides[-1] * p)
        for (p, m), fstride in reversed(list(zip(self.stages, strides))):
            shape = (samples, self.nfft // (p * m), p, m)
            fr, fi = fr.reshape(shape).copy(), fi.reshape(shape).copy()
            butterfly = {2: self._bfly2, 3: self._bfly3, 4: self._bfly4, 5: self._bfly5}.get(p, self._bfly_generic)
            fr, fi = butterfly(fr, fi, fstride, m, p)
            fr, fi = fr.reshape(samples, self.nfft), fi.reshape(samples, self.nfft)
        return fr, fi

    def _tw(self, index):
        return self.tw_r[index], self.tw_i[index]

    def _bfly2(self, fr, fi, fstride, m, p):
        s = self.s
        k = np.arange(m)
        for q in range(2):
            fr[:, :, q], fi[:, :, q] = s.fix_div(fr[:, :, q], 2), s.fix_div(fi[:, :, q], 2)
        tr, ti = s.c_mul(fr[:, :, 1], fi[:, :, 1], *self._tw(k * fstride))
        fr[:, :, 1], fi[:, :, 1] = s.store(fr[:, :, 0] - tr), s.store(fi[:, :, 0] - ti)
        fr[:, :, 0], fi[:, :, 0] = s.store(fr[:, :, 0] + tr), s.store(fi[:, :, 0] + ti)
        return fr, fi

    def _bfly4(self, fr, fi, fstride, m, p):
        s = self.s
        k = np.arange(m)
        for q in range(4):
            fr[:, :, q], fi[:, :, q] = s.fix_div(fr[:, :, q], 4), s.fix_div(fi[:, :, q], 4)
        s0 = s.c_mul(fr[:, :, 1], fi[:, :, 1], *self._tw(k * fstride))
        s1 = s.c_mul(fr[:, :, 2], fi[:, :, 2], *self._tw(2 * k * fstride))
        s2 = s.c_mul(fr[:, :, 3], fi[:, :, 3], *self._tw(3 * k * fstride))
        s5 = (s.store(fr[:, :, 0] - s1[0]), s.store(fi[:, :, 0] - s1[1]))
        f0 = (s.store(fr[:, :, 0] + s1[0]), s.store(fi[:, :, 0] + s1[1]))
        s3 = (s.store(s0[0] + s2[0]), s.store(s0[1] + s2[1]))
        s4 = (s.store(s0[0] - s2[0]), s.store(s0[1] - s2[1]))
        fr[:, :, 2], fi[:, :, 2] = s.store(f0[0] - s3[0]), s.store(f0[1] - s3[1])
        fr[:, :, 0], fi[:, :, 0] = s.store(f0[0] + s3[0]), s.store(f0[1] + s3[1])
        if self.inverse:
            fr[:, :, 1], fi[:, :, 1] = s.store(s5[0] - s4[1]), s.store(s5[1] + s4[0])
            fr[:, :, 3], fi[:, :, 3] = s.store(s5[0] + s4[1]), s.store(s5[1] - s4[0])
        else:
            fr[:, :, 1], fi[:, :, 1] = s.store(s5[0] + s4[1]), s.store(s5[1] - s4[0])
            fr[:, :, 3], fi[:, :, 3] = s.store(s5[0] - s4[1]), s.store(s5[1] + s4[0])
        return fr, fi

    def _bfly3(self, fr, fi, fstride, m, p):
        s = self.s
        k = np.arange(m)
        epi3_i = self.tw_i[fstride * m]
        for q in range(3):
            fr[:, :, q], fi[:, :, q] = s.fix_div(fr[:, :, q], 3), s.fix_div(fi[:, :, q], 3)
        s1 = s.c_mul(fr[:, :, 1], fi[:, :, 1], *self._tw(k * fstride))
        s2 = s.c_mul(fr[:, :, 2], fi[:, :, 2], *self._tw(2 * k * fstride))
        s3 = (s.store(s1[0] + s2[0]), s.store(s1[1] + s2[1]))
        s0 = (s.store(s1[0] - s2[0]), s.store(s1[1] - s2[1]))
        m_r = s.store(fr[:, :, 0] - s.half_of(s3[0]))
        m_i = s.store(fi[:, :, 0] - s.half_of(s3[1]))
        s0 = (s.s_mul(s0[0], epi3_i), s.s_mul(s0[1], epi3_i))
        fr[:, :, 0], fi[:, :, 0] = s.store(fr[:, :, 0] + s3[0]), s.store(fi[:, :, 0] + s3[1])
        fr[:, :, 2], fi[:, :, 2] = s.store(m_r + s0[1]), s.store(m_i - s0[0])
        fr[:, :, 1], fi[:, :, 1] = s.store(m_r - s0[1]), s.store(m_i + s0[0])
        return fr, fi

    def _bfly5(self, fr, fi, fstride, m, p):
        s = self.s
        u = np.arange(m)
        ya = (self.tw_r[fstride * m], self.tw_i[fstride * m])
        yb = (self.tw_r[fstride * 2 * m], self.tw_i[fstride * 2 * m])
        for q in range(5):
            fr[:, :, q], fi[:, :, q] = s.fix_div(fr[:, :, q], 5), s.fix_div(fi[:, :, q], 5)
        s0 = (fr[:, :, 0], fi[:, :, 0])
        s1 = s.c_mul(fr[:, :, 1], fi[:, :, 1], *self._tw(u * fstride))
        s2 = s.c_mul(fr[:, :, 2], fi[:, :, 2], *self._tw(2 * u * fstride))
        s3 = s.c_mul(fr[:, :, 3], fi[:, :, 3], *self._tw(3 * u * fstride))
        s4 = s.c_mul(fr[:, :, 4], fi[:, :, 4], *self._tw(4 * u * fstride))
        s7 = (s.store(s1[0] + s4[0]), s.store(s1[1] + s4[1]))
        s10 = (s.store(s1[0] - s4[0]), s.store(s1[1] - s4[1]))
        s8 = (s.store(s2[0] + s3[0]), s.store(s2[1] + s3[1]))
        s9 = (s.store(s2[0] - s3[0]), s.store(s2[1] - s3[1]))
        f0 = (s.store(s0[0] + (s7[0] + s8[0])), s.store(s0[1] + (s7[1] + s8[1])))
        s5 = (s.store(s0[0] + s.s_mul(s7[0], ya[0]) + s.s_mul(s8[0], yb[0])),
              s.store(s0[1] + s.s_mul(s7[1], ya[0]) + s.s_mul(s8[1], yb[0])))
        s6 = (s.store(s.s_mul(s10[1], ya[1]) + s.s_mul(s9[1], yb[1])),
              s.store(-s.s_mul(s10[0], ya[1]) - s.s_mul(s9[0], yb[1])))
        s11 = (s.store(s0[0] + s.s_mul(s7[0], yb[0]) + s.s_mul(s8[0], ya[0])),
               s.store(s0[1] + s.s_mul(s7[1], yb[0]) + s.s_mul(s8[1], ya[0])))
        s12 = (s.store(-s.s_mul(s10[1], yb[1]) + s.s_mul(s9[1], ya[1])),
               s.store(s.s_mul(s10[0], yb[1]) - s.s_mul(s9[0], ya[1])))
        fr[:, :, 0], fi[:, :, 0] = f0
        fr[:, :, 1], fi[:, :, 1] = s.store(s5[0] - s6[0]), s.store(s5[1] - s6[1])
        fr[:, :, 4], fi[:, :, 4] = s.store(s5[0] + s6[0]), s.store(s5[1] + s6[1])
        fr[:, :, 2], fi[:, :, 2] = s.store(s11[0] + s12[0]), s.store(s11[1] + s12[1])
        fr[:, :, 3], fi[:, :, 3] = s.store(s11[0] - s12[0]), s.store(s11[1] - s12[1])
        return fr, fi

    def _bfly_generic(self, fr, fi, fstride, m, p):
        s = self.s
        scratch_r = s.fix_div(fr.copy(), p)  # scratch[q1] = Fout[u + q1*m] / p, read before any write
        scratch_i = s.fix_div(fi.copy(), p)
        u = np.arange(m)
        for q1 in range(p):
            k = u + q1 * m
            out_r, out_i = scratch_r[:, :, 0].copy(), scratch_i[:, :, 0].copy()
            for q in range(1, p):
                twidx = (q * fstride * k) % self.nfft
                tr, ti = s.c_mul(scratch_r[:, :, q], scratch_i[:, :, q], *self._tw(twidx))
                out_r, out_i = s.store(out_r + tr), s.store(out_i + ti)
            fr[:, :, q1], fi[:, :, q1] = out_r, out_i
        return fr, fi


class RealFft:
    """``kiss_fftr`` (forward): a real signal of even length -> nfft/2 + 1 complex bins."""

    def __init__(self, nfft: int, dtype: str) -> None:
        if nfft <= 0 or nfft % 2:
            raise ValueError(f"real FFT length {nfft} must be even and positive")
        self.s = scalar_type(dtype)
        self.ncfft = nfft // 2
        self.complex_fft = ComplexFft(self.ncfft, False, self.s)
        twiddles = [self.s.twiddle(-PI_KISS_FFTR * ((i + 1) / self.ncfft + 0.5)) for i in range(self.ncfft // 2)]
        self.super_r = self.s.load([t[0] for t in twiddles])
        self.super_i = self.s.load([t[1] for t in twiddles])

    def __call__(self, timedata):
        """(samples, nfft) -> (real, imag), each (samples, nfft/2 + 1)."""
        s = self.s
        data = s.load(timedata)
        tr, ti = self.complex_fft(data[:, 0::2], data[:, 1::2])
        n = self.ncfft
        samples = data.shape[0]
        out_r, out_i = s.zeros((samples, n + 1)), s.zeros((samples, n + 1))
        dc_r, dc_i = s.fix_div(tr[:, 0], 2), s.fix_div(ti[:, 0], 2)
        out_r[:, 0] = s.store(dc_r + dc_i)
        out_r[:, n] = s.store(dc_r - dc_i)
        half = n // 2
        if half:
            k = np.arange(1, half + 1)
            fpk = (s.fix_div(tr[:, k], 2), s.fix_div(ti[:, k], 2))
            fpnk = (s.fix_div(tr[:, n - k], 2), s.fix_div(s.store(-ti[:, n - k]), 2))
            f1k = (s.store(fpk[0] + fpnk[0]), s.store(fpk[1] + fpnk[1]))
            f2k = (s.store(fpk[0] - fpnk[0]), s.store(fpk[1] - fpnk[1]))
            tw = s.c_mul(f2k[0], f2k[1], self.super_r[k - 1], self.super_i[k - 1])
            out_r[:, k] = s.store(s.half_of(f1k[0] + tw[0]))
            out_i[:, k] = s.store(s.half_of(f1k[1] + tw[1]))
            # For k = n/2 both writes hit one bin; the C's second write wins, as here.
            out_r[:, n - k] = s.store(s.half_of(f1k[0] - tw[0]))
            out_i[:, n - k] = s.store(s.half_of(tw[1] - f1k[1]))
        return out_r, out_i


class RealInverseFft:
    """``kiss_fftri``: nfft/2 + 1 complex bins -> a real signal of even length nfft."""

    def __init__(self, nfft: int, dtype: str) -> None:
        if nfft <= 0 or nfft % 2:
            raise ValueError(f"real FFT length {nfft} must be even and positive")
        self.s = scalar_type(dtype)
        self.ncfft = nfft // 2
        self.complex_fft = ComplexFft(self.ncfft, True, self.s)
        twiddles = [self.s.twiddle(PI_KISS_FFTR * ((i + 1) / self.ncfft + 0.5)) for i in range(self.ncfft // 2)]
        self.super_r = self.s.load([t[0] for t in twiddles])
        self.super_i = self.s.load([t[1] for t in twiddles])

    def __call__(self, real, imag):
        """(samples, nfft/2 + 1) real and imaginary parts -> (samples, nfft)."""
        s = self.s
        real, imag = s.load(real), s.load(imag)
        n = self.ncfft
        samples = real.shape[0]
        tr, ti = s.zeros((samples, n)), s.zeros((samples, n))
        tr[:, 0] = s.fix_div(s.store(real[:, 0] + real[:, n]), 2)
        ti[:, 0] = s.fix_div(s.store(real[:, 0] - real[:, n]), 2)
        half = n // 2
        if half:
            k = np.arange(1, half + 1)
            fk = (s.fix_div(real[:, k], 2), s.fix_div(imag[:, k], 2))
            fnkc = (s.fix_div(real[:, n - k], 2), s.fix_div(s.store(-imag[:, n - k]), 2))
            fek = (s.store(fk[0] + fnkc[0]), s.store(fk[1] + fnkc[1]))
            tmp = (s.store(fk[0] - fnkc[0]), s.store(fk[1] - fnkc[1]))
            fok = s.c_mul(tmp[0], tmp[1], self.super_r[k - 1], self.super_i[k - 1])
            tr[:, k], ti[:, k] = s.store(fek[0] + fok[0]), s.store(fek[1] + fok[1])
            # For k = n/2 both writes hit one bin; the C's second write (negated imaginary part) wins.
            tr[:, n - k] = s.store(fek[0] - fok[0])
            ti[:, n - k] = s.store(-s.store(fek[1] - fok[1]))
        out_r, out_i = self.complex_fft(tr, ti)
        return np.stack([out_r, out_i], axis=-1).reshape(samples, 2 * n)
