"""Example offload tasks in Python, served as one coprocess per worker process:

    worker --task noop=serve:python3 examples/python/tasks.py \
           --task hash_password=serve:python3 examples/python/tasks.py

noop            -> null
echo            -> the args
hash_password   {"password": str, "salt": hex (optional), "iterations": int (optional)}
                -> {"algorithm": "pbkdf2_sha256", "iterations": N, "salt": hex, "hash": hex}
verify_password {"password": str, plus the fields hash_password returned}
                -> {"ok": bool, "needs_rehash": bool}

hash_password is the login-service case of the README: ~0.5 s of CPU that
must not run on the API's event loop.
"""

import hashlib
import hmac
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from offload_task import TaskError, serve, task  # noqa: E402

ALGORITHM = "pbkdf2_sha256"
# Calibrated so that one hash costs ~0.5 s of CPU, the README's task size:
# on the development machine (Intel Xeon, Python 3.11.7, OpenSSL 3.0) 600,000
# iterations (OWASP's 2023 figure for PBKDF2-HMAC-SHA256) took 0.20 s of CPU
# and 1,500,000 took 0.48-0.51 s. OFFLOAD_PBKDF2_ITERATIONS overrides it.
DEFAULT_ITERATIONS = int(os.environ.get("OFFLOAD_PBKDF2_ITERATIONS", "1500000"))
# Bounds on a caller's "iterations": below OWASP's floor is no protection,
# and far above the default is a job that outlives any timeout.
MIN_ITERATIONS = 1000
MAX_ITERATIONS = 20 * DEFAULT_ITERATIONS
SALT_BYTES = 16  # 128 bits, as NIST SP 800-132 asks
HASH_BYTES = 32  # SHA-256's own size: longer output only costs more


@task
def noop(args):
    return None


@task
def echo(args):
    return args


def _field(args, name, kind, required=True):
    """args[name] when it is of type kind; None when absent and not required; else TaskError."""
    if not isinstance(args, dict):
        raise TaskError("args: must be an object")
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TaskError(f"args.{name}: must be {'a string' if kind is str else 'an integer'}")
    return value


def _hex(args, name, required=True):
    text = _field(args, name, str, required)
    if text is None:
        return None
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise TaskError(f"args.{name}: must be hexadecimal") from None
    if not value:
        raise TaskError(f"args.{name}: must not be empty")
    return value


def _iterations(args, required):
    n = _field(args, "iterations", int, required)
    if n is None:
        return DEFAULT_ITERATIONS
    if not MIN_ITERATIONS <= n <= MAX_ITERATIONS:
        raise TaskError(f"args.iterations: must be {MIN_ITERATIONS}..{MAX_ITERATIONS}")
    return n


def _pbkdf2(password, salt, iterations):
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, HASH_BYTES)


@task
def hash_password(args):
    password = _field(args, "password", str)
    salt = _hex(args, "salt", required=False) or os.urandom(SALT_BYTES)
    iterations = _iterations(args, required=False)
    return {
        "algorithm": ALGORITHM,
        "iterations": iterations,
        "salt": salt.hex(),
        "hash": _pbkdf2(password, salt, iterations).hex(),
    }


@task
def verify_password(args):
    password = _field(args, "password", str)
    algorithm = _field(args, "algorithm", str, required=False) or ALGORITHM
    if algorithm != ALGORITHM:
        raise TaskError(f"args.algorithm: only {ALGORITHM}")
    salt = _hex(args, "salt")
    expected = _hex(args, "hash")
    iterations = _iterations(args, required=True)
    ok = hmac.compare_digest(_pbkdf2(password, salt, iterations), expected)
    return {"ok": ok, "needs_rehash": ok and iterations < DEFAULT_ITERATIONS}


if __name__ == "__main__":
    serve()
