"""A strict stand-in for the part of CuPy that tinyrpn uses, backed by NumPy on the CPU.

It exists so that the GPU path (``device="cuda"``) is tested on every machine, and can be
tried on a laptop: with ``TINYRPN_CUPY=standin`` in the environment, ``tinyrpn.backend``
hands out this module wherever it would hand out ``cupy``. It is not fast and is not meant
to be; it is meant to fail where CuPy on a GPU would fail.

Its :class:`ndarray` is its own type, wrapping a NumPy array. Arithmetic, ufuncs and the
functions of this module (and NumPy's, through ``__array_ufunc__``/``__array_function__``,
as CuPy allows) work between stand-in arrays and return stand-in arrays; Python and NumPy
*scalars* mixed in are fine, as in CuPy. What CuPy refuses, it refuses:

- a NumPy array mixed into arithmetic, a ufunc or a function (``TypeError: Unsupported type``),
  or assigned into a stand-in array (only a 0-d one may fill a plain slice, as in CuPy):
  data never crosses to the device implicitly;
- implicit conversion to NumPy (``np.asarray(a)``, ``np.ascontiguousarray(a)``, anything that
  calls ``__array__``): ``TypeError: Implicit conversion to a NumPy array is not allowed``;
- a Numba kernel: Numba does not know the type, so a CPU-only kernel cannot take it.

The explicit moves work as in CuPy: ``asarray``/``array`` take NumPy arrays to the device,
``a.get()`` and ``asnumpy(a)`` bring them back; ``float(a)``, ``int(a)``, ``bool(a)``,
``a.item()`` and ``a.tolist()`` copy to the host as CuPy does (a synchronisation on a GPU).
Indexing accepts NumPy and list indices (CuPy copies them to the device). Reductions return
0-d arrays, not NumPy scalars, and indexing one element gives a 0-d *view* (writing into the
array changes it), as in CuPy.
"""

from __future__ import annotations

import types
import weakref
from typing import Any

import numpy as np

__all__ = ["ndarray", "asarray", "array", "ascontiguousarray", "asnumpy", "get_array_module",
           "random", "fft", "linalg", "cuda"]


class ndarray(np.lib.mixins.NDArrayOperatorsMixin):
    """An array "on the device": a NumPy array that only stand-in code may touch.

    The operators (``+``, ``@``, ``<``, ``+=``, ...) come from NumPy's mixin, which sends
    them through ``__array_ufunc__`` below, where the NumPy-array check is made.
    """

    __slots__ = ("_host", "__weakref__")

    def __init__(self, shape: Any, dtype: Any = float, order: str = "C") -> None:
        self._host = np.empty(shape, dtype=dtype, order=order)  # as cupy.ndarray(shape, dtype)
        _owners[id(self._host)] = self

    # -- crossing to the host: explicit only ------------------------------------------------

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> np.ndarray:
        """A NumPy copy of the values (the device-to-host copy)."""
        if out is not None:
            out[...] = self._host
            return out
        return np.array(self._host, order=order, copy=True)

    def item(self) -> Any:
        return self._host.item()

    def tolist(self) -> Any:
        return self._host.tolist()

    def __float__(self) -> float:
        return float(self._host)

    def __int__(self) -> int:
        return int(self._host)

    def __complex__(self) -> complex:
        return complex(self._host)

    def __bool__(self) -> bool:
        return bool(self._host)

    def __repr__(self) -> str:
        return repr(self._host)

    def __str__(self) -> str:
        return str(self._host)

    def __format__(self, spec: str) -> str:
        return format(self._host, spec)

    def __reduce__(self) -> tuple:
        return asarray, (self._host,)

    # -- NumPy's protocols: compute on the wrapped arrays, refuse NumPy arrays ---------------

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "at":  # ufunc.at(a, indices, b): indices may come from the host
            a, index, *rest = inputs
            ufunc.at(_device(a), _index(index), *_unwrap(rest))
            return None
        if not all(_operand_ok(x) for x in inputs + tuple(kwargs.get("out", ()))):
            return NotImplemented  # an unknown type: let Python or the other operand decide
        out = kwargs.pop("out", None)
        kwargs = _unwrap(kwargs)
        if out is not None:
            kwargs["out"] = tuple(_device(o) for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        if func in _HOST_ONLY:
            return NotImplemented  # NumPy then raises "no implementation found"
        return _call(func, args, kwargs)

    # -- containers and indexing ------------------------------------------------------------

    def __len__(self) -> int:
        if self._host.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._host)

    def __iter__(self) -> Any:
        if self._host.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._host)))

    def __getitem__(self, index: Any) -> Any:
        index = _index(index)
        item = self._host[index]
        if isinstance(item, np.generic):  # a single element: CuPy gives a 0-d *view*
            item = self._host[(*index, ...) if isinstance(index, tuple) else (index, ...)]
        return _wrap(item)

    def __setitem__(self, index: Any, value: Any) -> None:
        # CuPy fills a plain slice with any scalar, a 0-d NumPy array included; every other
        # host array or list it refuses.
        scalar_fill = isinstance(value, np.ndarray) and value.ndim == 0 and _basic(index)
        if isinstance(value, (np.ndarray, list, tuple)) and not scalar_fill:
            raise TypeError(f"cannot assign a host {type(value).__name__} into a device array "
                            "(CuPy refuses implicit host-to-device copies); use asarray first")
        self._host[_index(index)] = _unwrap(value) if not scalar_fill else value[()]

    __hash__ = None  # arrays are mutable

    # -- attributes and methods, as NumPy's but on the device -------------------------------

    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    ndim = property(lambda self: self._host.ndim)
    size = property(lambda self: self._host.size)
    itemsize = property(lambda self: self._host.itemsize)
    nbytes = property(lambda self: self._host.nbytes)
    strides = property(lambda self: self._host.strides)
    flags = property(lambda self: self._host.flags)
    T = property(lambda self: _wrap(self._host.T))
    mT = property(lambda self: _wrap(self._host.mT))
    real = property(lambda self: _wrap(self._host.real))
    imag = property(lambda self: _wrap(self._host.imag))
    device = property(lambda self: cuda.Device(0))

    @property
    def base(self) -> Any:
        """The array this one is a view of, or None: as in CuPy, the very stand-in array
        that owns the memory (so ``view.base is owner``) while it is alive."""
        owner = self._host.base
        if owner is None:
            return None
        found = _owners.get(id(owner))
        return _wrap(owner) if found is None else found

    @property
    def data(self) -> Any:
        """On CuPy, a device memory pointer; reading it as the values is a mistake."""
        raise AttributeError("a device array's .data is a memory pointer, not its values "
                             "(did you mean a Tensor's .data?); use .get() for the values")


def _method(name: str) -> Any:
    def method(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        return _wrap(getattr(self._host, name)(*_unwrap(args), **_unwrap(kwargs)))

    method.__name__ = name
    return method


for _name in ("all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj", "copy",
              "cumsum", "cumprod", "diagonal", "dot", "fill", "flatten", "max", "mean", "min",
              "nonzero", "prod", "put", "ravel", "repeat", "reshape", "round", "sort", "squeeze",
              "std", "sum", "swapaxes", "take", "trace", "transpose", "var", "view", "__copy__",
              "__deepcopy__"):
    setattr(ndarray, _name, _method(_name))


# NumPy functions that need the values on the host: CuPy has no such function for its arrays.
_HOST_ONLY = {np.save, np.savez, np.savetxt, np.array2string, np.array_repr}


# -- moving between the stand-in world and NumPy --------------------------------------------

def _operand_ok(x: Any) -> bool:
    """Raise for a NumPy array (CuPy's "Unsupported type"); False for a type we do not know."""
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)}: a NumPy array cannot be mixed with "
                        "device arrays (CuPy refuses implicit host-to-device copies)")
    return isinstance(x, (ndarray, int, float, complex, bool, np.generic)) or x is None


def _unwrap(x: Any) -> Any:
    """The NumPy values inside stand-in arrays (in lists, tuples and dicts too); a NumPy array
    raises TypeError, as it does in CuPy."""
    if type(x) is ndarray:
        return x._host
    if isinstance(x, np.ndarray):
        _operand_ok(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _device(x: Any) -> np.ndarray:
    """The NumPy array inside a stand-in array given as an output; nothing else will do."""
    if type(x) is not ndarray:
        raise TypeError(f"output arrays must be device arrays, got {type(x)}")
    return x._host


def _index(index: Any) -> Any:
    """An index with stand-in arrays unwrapped; NumPy arrays and lists are allowed (CuPy
    copies them to the device)."""
    if type(index) is ndarray:
        return index._host
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    return index


def _basic(index: Any) -> bool:
    """Whether ``index`` is basic indexing only (integers, slices, None, Ellipsis)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer))
               for p in parts)


# The stand-in array that owns each NumPy buffer, by the buffer's id (valid while the
# owner, which holds the buffer, is alive): what ``view.base`` hands back.
_owners: weakref.WeakValueDictionary[int, ndarray] = weakref.WeakValueDictionary()


def _wrap(x: Any) -> Any:
    """NumPy results as stand-in arrays; a NumPy scalar becomes a 0-d array, as in CuPy."""
    if isinstance(x, (np.ndarray, np.generic)):
        a = ndarray.__new__(ndarray)
        a._host = np.asarray(x) if isinstance(x, np.generic) else x
        if a._host.base is None and id(a._host) not in _owners:
            _owners[id(a._host)] = a
        return a
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _call(func: Any, args: Any, kwargs: Any) -> Any:
    return _wrap(func(*_unwrap(tuple(args)), **_unwrap(dict(kwargs))))


def _device_function(func: Any) -> Any:
    """``func`` (a NumPy function) as a function of this module: stand-in arrays in and out."""
    def device_function(*args: Any, **kwargs: Any) -> Any:
        return _call(func, args, kwargs)

    device_function.__name__ = getattr(func, "__name__", "function")
    device_function.__doc__ = f"NumPy's {device_function.__name__}, on stand-in arrays."
    return device_function


class _Ufunc:
    """A NumPy ufunc as this module's: ``standin.add(a, b)``, ``standin.add.at(...)``."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self.ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for x in args:
            _operand_ok(x)
        out = kwargs.get("out")
        outs = out if isinstance(out, tuple) else () if out is None else (out,)
        if any(type(x) is ndarray for x in args + outs):
            return self.ufunc(*args, **kwargs)  # through ndarray.__array_ufunc__
        return _wrap(self.ufunc(*args, **kwargs))  # scalars only: a 0-d device array

    def __getattr__(self, method: str) -> Any:  # at, reduce, outer, accumulate, nin, ...
        return getattr(self.ufunc, method)


# -- the module's namespace: CuPy's names, NumPy's behaviour --------------------------------

def asarray(a: Any, dtype: Any = None, order: Any = None, *, copy: Any = None) -> ndarray:
    """``a`` on the device: NumPy arrays, lists and scalars are copied there (the explicit
    host-to-device move); a stand-in array is returned as it is unless a cast is needed."""
    if type(a) is ndarray:
        if (dtype is None or np.dtype(dtype) == a.dtype) and not copy:
            return a
        return _wrap(np.array(a._host, dtype=dtype, order=order or "K", copy=True))
    return _wrap(np.array(_unwrap_nested(a), dtype=dtype, order=order or "K", copy=True))


def array(a: Any, dtype: Any = None, copy: bool = True, order: str = "K", ndmin: int = 0
          ) -> ndarray:
    """A new device array with the values of ``a`` (host or device)."""
    if type(a) is ndarray:
        return _wrap(np.array(a._host, dtype=dtype, copy=True if copy else None, order=order,
                              ndmin=ndmin))
    return _wrap(np.array(_unwrap_nested(a), dtype=dtype, copy=True, order=order,
                          ndmin=ndmin))


def _unwrap_nested(a: Any) -> Any:
    """Nested lists may hold device arrays (CuPy stacks them); NumPy arrays pass (a copy)."""
    if isinstance(a, (list, tuple)):
        return [_unwrap_nested(v) for v in a]
    return a._host if type(a) is ndarray else a


def ascontiguousarray(a: ndarray, dtype: Any = None) -> ndarray:
    """C-contiguous ``a``; as in CuPy, only a device array is accepted."""
    if type(a) is not ndarray:
        raise TypeError(f"ascontiguousarray: expected a device array, got {type(a)} "
                        "(CuPy does not copy host arrays implicitly)")
    return _wrap(np.ascontiguousarray(a._host, dtype=dtype))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None) -> np.ndarray:
    """A NumPy array with the values of ``a`` (a device array is copied to the host)."""
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args: Any) -> types.ModuleType:
    """This module when any argument is a stand-in array, else NumPy (as cupy's)."""
    import sys

    return sys.modules[__name__] if any(type(a) is ndarray for a in args) else np


class _Namespace(types.ModuleType):
    """A NumPy submodule (random, fft, linalg) whose functions take and give stand-in arrays."""

    def __init__(self, name: str, source: types.ModuleType) -> None:
        super().__init__(name)
        self._source = source

    def __getattr__(self, name: str) -> Any:
        return _lookup(self._source, name)


def _lookup(source: types.ModuleType, name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(source, name)  # AttributeError names what is missing
    if isinstance(value, np.ufunc):
        return _Ufunc(value)
    if isinstance(value, (type, types.ModuleType)) or not callable(value):
        return value  # dtypes (float32), classes, constants (pi, newaxis)
    return _device_function(value)


random = _Namespace(__name__ + ".random", np.random)
fft = _Namespace(__name__ + ".fft", np.fft)
linalg = _Namespace(__name__ + ".linalg", np.linalg)


class _Device:
    """``cupy.cuda.Device``: there is one, device 0."""

    def __init__(self, index: int = 0) -> None:
        self.id = int(index)

    def synchronize(self) -> None:
        pass

    def __enter__(self) -> _Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


cuda = types.SimpleNamespace(
    Device=_Device,
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
    Stream=types.SimpleNamespace(null=_Device()),
    is_available=lambda: True,
)


def __getattr__(name: str) -> Any:
    """Every other name is NumPy's, made to work on stand-in arrays (zeros, exp, where...)."""
    return _lookup(np, name)
