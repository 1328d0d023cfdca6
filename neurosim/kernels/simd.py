"""Explicit 32-lane integer vector steps for the event conv's position scatter, as Numba
intrinsics, and a trailing-zero count.

Numba's loop vectoriser keeps to 256-bit registers on AVX-512 machines (LLVM's
prefer-vector-width tuning), and a loop that adds several weight rows into one accumulator run
needs runtime alias checks per run; an explicit LLVM vector of 32 int16 lanes is one AVX-512
register (two AVX2 ones, or more narrower ones, elsewhere: LLVM splits it) and checks nothing.
The caller guarantees that every index range lies inside its array: nothing here is bounds
checked. Imports llvmlite and numba only.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

LANES = 32
"""Lanes of one vector step: ``num_out`` must be a multiple of it."""


def _vector_ptr(context, builder, array_type, array, index, vector_type):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


def _lanes(array_type):
    return ir.VectorType(ir.IntType(array_type.dtype.bitwidth), LANES)


def _weights(context, builder, array_type, array, index, lanes):
    """32 weights from ``index`` on, sign-extended (or cut) to the accumulator's lanes."""
    vector_type = _lanes(array_type)
    ptr = _vector_ptr(context, builder, array_type, array, index, vector_type)
    value = builder.load(ptr, align=array_type.dtype.bitwidth // 8)
    width, target = array_type.dtype.bitwidth, lanes.element.width
    if width < target:
        return builder.sext(value, lanes)
    return builder.trunc(value, lanes) if width > target else value


def _splat(builder, value, lanes):
    """value (an integer that fits the lanes) in every lane."""
    element = lanes.element
    if value.type.width > element.width:
        value = builder.trunc(value, element)
    elif value.type.width < element.width:
        value = builder.sext(value, element)
    undef = ir.Constant(lanes, ir.Undefined)
    first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
    return builder.shuffle_vector(first, undef, zeros)


def _typed(acc, w):
    """Integer arrays (the event conv runs them on int16 accumulators only; its other
    specialisations must still compile)."""
    return (
        isinstance(acc, types.Array)
        and isinstance(acc.dtype, types.Integer)
        and isinstance(w, types.Array)
        and isinstance(w.dtype, types.Integer)
    )


def _add_rows(context, builder, signature, args, count, scaled):
    """acc[a : a+32] += Σ_j (v_j ·) w[b_j : b_j+32] over ``count`` weight rows, args = (acc, a,
    w, b_0.., v_0..), in lanes of acc's dtype that wrap: exact whenever the caller's sums fit
    it."""
    acc, a, w = args[:3]
    lanes = _lanes(signature.args[0])
    total = None
    for j in range(count):
        term = _weights(context, builder, signature.args[2], w, args[3 + j], lanes)
        if scaled:
            term = builder.mul(term, _splat(builder, args[3 + count + j], lanes))
        total = term if total is None else builder.add(total, term)
    ptr = _vector_ptr(context, builder, signature.args[0], acc, a, lanes)
    align = signature.args[0].dtype.bitwidth // 8
    builder.store(builder.add(builder.load(ptr, align=align), total), ptr, align=align)
    return context.get_dummy_value()


@intrinsic
def add1(typingctx, acc, a, w, b0):
    """acc[a:a+32] += w[b0:b0+32]."""
    if not _typed(acc, w):
        return None
    return types.void(acc, a, w, b0), lambda c, b, s, args: _add_rows(c, b, s, args, 1, False)


@intrinsic
def add2(typingctx, acc, a, w, b0, b1):
    """acc[a:a+32] += w[b0:b0+32] + w[b1:b1+32]."""
    if not _typed(acc, w):
        return None
    return types.void(acc, a, w, b0, b1), lambda c, b, s, args: _add_rows(c, b, s, args, 2, False)


@intrinsic
def add4(typingctx, acc, a, w, b0, b1, b2, b3):
    """acc[a:a+32] += w[b0:b0+32] + w[b1:b1+32] + w[b2:b2+32] + w[b3:b3+32]."""
    if not _typed(acc, w):
        return None
    signature = types.void(acc, a, w, b0, b1, b2, b3)
    return signature, lambda c, b, s, args: _add_rows(c, b, s, args, 4, False)


@intrinsic
def add1v(typingctx, acc, a, w, b0, v0):
    """acc[a:a+32] += v0·w[b0:b0+32] (v0 fits int16)."""
    if not _typed(acc, w):
        return None
    return types.void(acc, a, w, b0, v0), lambda c, b, s, args: _add_rows(c, b, s, args, 1, True)


@intrinsic
def add4v(typingctx, acc, a, w, b0, b1, b2, b3, v0, v1, v2, v3):
    """acc[a:a+32] += v0·w[b0:b0+32] + ... + v3·w[b3:b3+32] (every vj fits int16)."""
    if not _typed(acc, w):
        return None
    signature = types.void(acc, a, w, b0, b1, b2, b3, v0, v1, v2, v3)
    return signature, lambda c, b, s, args: _add_rows(c, b, s, args, 4, True)


@intrinsic
def ctz(typingctx, value):
    """Trailing zero bits of a non-zero uint64 (one instruction)."""
    if value != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        function_type = ir.FunctionType(i64, [i64, ir.IntType(1)])
        cttz = builder.module.declare_intrinsic("llvm.cttz", [i64], function_type)
        return builder.call(cttz, [args[0], ir.Constant(ir.IntType(1), 1)])

    return types.int64(value), codegen
