"""offload_task: write offload worker tasks in Python (standard library only).

A coprocess bound with ``worker --task NAME=serve:python3 yourtasks.py``
registers functions with ``@task`` and calls ``serve()``::

    from offload_task import TaskError, log, serve, task

    @task                       # the task "resize", named after the function
    def resize(args):
        return {"w": args["w"] // 2}

    @task("hash")               # an explicit name
    def hash_it(args, job):     # a second parameter receives the Job
        log(f"attempt {job.attempt} of {job.id}")
        return ...

    if __name__ == "__main__":
        serve()

A task receives the job's ``args`` (any JSON value, decoded; a task taking no
parameter does without) and, if it takes a second positional parameter, a
``Job`` (``id``, ``task``, ``attempt``, ``queue``, ``timeout_ms`` and
``deadline``, a ``time.monotonic()`` value). Its return value, which must be
JSON-serialisable, is the job's result. Raising
fails the run: ``TaskError("message")`` answers exactly that message (for
expected failures, such as bad args); any other exception answers
``"ExceptionType: message"`` and logs its traceback on stderr.

Protocol (the worker's side of it is in worker/; this is the coprocess side)
------------------------------------------------------------------------------
The worker starts the coprocess once per worker process (task names bound
to the same command share it, so each request says its task), with the
environment variable OFFLOAD_WORKER_ID, and speaks newline-delimited JSON (UTF-8) over its stdin
and stdout, one job at a time:

- request, one line on stdin::

    {"id":"<job id>","task":"<name>","args":<any JSON>,"attempt":1,
     "queue":"default","timeout_ms":60000}

- answer, one line on stdout, either::

    {"id":"<same id>","result":<any JSON>}
    {"id":"<same id>","error":"message"}

  ("id" is required and must be the request's: a stray line is caught as garbage).

Anything else on stdout (a line that is not a JSON object, an object with
neither "result" nor "error", a wrong "id") or the coprocess exiting counts as
a crash: the job's run fails and the worker starts a new coprocess. So
``serve()`` keeps stdout for answers only: it moves the answer stream to a
private file descriptor and points file descriptor 1 (``print``, child
processes) at stderr, and stdin at /dev/null. stderr is the worker's log.

A run past its ``timeout_ms`` is the worker's business (it kills the
coprocess); a task that wants to stop in time checks ``job.deadline``.

On end of input (the worker closed stdin, or went away) ``serve()`` returns
and a script that calls it last exits 0. SIGTERM ends the process at once
(the default action, restored in case the parent ignored it).
"""

import inspect
import json
import os
import signal
import sys
import time
import traceback

__all__ = ["task", "serve", "Job", "TaskError", "tasks", "log"]

# name -> (function, takes_job). Filled by @task.
tasks = {}


class TaskError(Exception):
    """An expected failure: its message is the job's error, with no traceback."""


class Job:
    """The job being run, given to tasks that take a second parameter."""

    __slots__ = ("id", "task", "attempt", "queue", "timeout_ms", "deadline")

    def __init__(self, request, now):
        self.id = request.get("id")
        self.task = request.get("task")
        self.attempt = request.get("attempt", 1)
        self.queue = request.get("queue")
        self.timeout_ms = request.get("timeout_ms")
        # Past this time.monotonic() value the worker gives up on the run.
        self.deadline = now + self.timeout_ms / 1000.0 if self.timeout_ms else None

    def __repr__(self):
        return (f"Job(id={self.id!r}, task={self.task!r}, attempt={self.attempt!r}, "
                f"queue={self.queue!r}, timeout_ms={self.timeout_ms!r})")


def _positional_params(fn):
    """How many positional arguments fn takes (2 for *args); 1 when it cannot be told."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return 1
    positional = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional


def _register(name, fn):
    if not isinstance(name, str) or not name:
        raise ValueError(f"task name must be a non-empty string, not {name!r}")
    if name in tasks:
        raise ValueError(f"task {name!r} is registered twice")
    if not callable(fn):
        raise TypeError(f"task {name!r}: {fn!r} is not callable")
    n = _positional_params(fn)
    if n == 0:
        tasks[name] = (lambda args: fn(), False)  # a task that ignores its args
    else:
        tasks[name] = (fn, n >= 2)
    return fn


def task(name_or_fn=None):
    """Registers a task: ``@task``, ``@task()`` (the function's name) or ``@task("name")``."""
    if callable(name_or_fn):
        return _register(name_or_fn.__name__, name_or_fn)
    return lambda fn: _register(name_or_fn or fn.__name__, fn)


def log(message):
    """One line on stderr, the worker's log."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def _protocol_streams():
    """Takes fds 0 and 1 for the protocol; leaves /dev/null and stderr in their place.

    Returns (infile, outfile), binary and private to serve(), so that a task's
    print() or a child process cannot write into the answer stream nor read
    the next request."""
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    os.dup2(2, 1)  # in_fd and out_fd are not inherited by child processes (dup's default)
    return os.fdopen(in_fd, "rb"), os.fdopen(out_fd, "wb")


def serve(infile=None, outfile=None):
    """Answers requests until end of input, then returns.

    With no arguments it serves the process's stdin and stdout (see the
    module's docstring); tests may pass binary file objects instead."""
    if infile is None and outfile is None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        infile, outfile = _protocol_streams()
    elif infile is None or outfile is None:
        raise ValueError("serve(): give both infile and outfile, or neither")

    # Locals for the loop: every global or attribute lookup costs per job.
    # (try blocks cost nothing until they catch, since Python 3.11.)
    decode = json.JSONDecoder().decode
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode
    write = outfile.write
    flush = outfile.flush
    registry = tasks
    monotonic = time.monotonic

    try:
        for line in infile:
            try:
                request = decode(line.decode("utf-8"))
                request_id = request.get("id")
                fn, takes_job = registry[request["task"]]
            except Exception:  # a line serve() cannot dispatch still gets an answer
                if not line.isspace():
                    write(_request_error(line, registry, encode))
                    flush()
                continue
            try:
                if takes_job:
                    result = fn(request.get("args"), Job(request, monotonic()))
                else:
                    result = fn(request.get("args"))
            except Exception as e:  # a failed run, not a crash
                data = _run_error(e, request_id, encode)
            else:
                try:
                    data = encode({"id": request_id, "result": result})
                except (TypeError, ValueError, RecursionError) as e:
                    data = _result_error(e, request_id, encode)
            try:
                data = data.encode("utf-8")
            except UnicodeEncodeError as e:  # a lone surrogate is no UTF-8 (nor JSON)
                data = _result_error(e, request_id, encode).encode("utf-8")
            write(data + b"\n")
            flush()
    except BrokenPipeError:
        pass  # the worker went away: nobody to answer
    except KeyboardInterrupt:
        pass  # Ctrl-C on a terminal: stop quietly
    finally:
        try:
            outfile.close()
        except BrokenPipeError:
            pass


def _describe(e):
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _quote(v):
    """A logfmt value: double-quoted, JSON escapes."""
    return json.dumps(str(v), ensure_ascii=False)


def _request_error(line, registry, encode):
    """The answer (bytes) to a request line that names no known task or is not a request."""
    request_id = None
    try:
        request = json.loads(line)
    except ValueError as e:  # UnicodeDecodeError is one too
        message = f"bad request: {_describe(e)}"
    else:
        if not isinstance(request, dict):
            message = "bad request: not a JSON object"
        elif "task" not in request:
            request_id = request.get("id")
            message = 'bad request: no "task"'
        else:
            request_id = request.get("id")
            names = ", ".join(sorted(registry))
            message = f"no task {request['task']} in this coprocess (has: {names})"
            return _error_line(request_id, message, encode)
    log(f'level=error msg="bad request" error={_quote(message)} '
        f"line={_quote(line[:200].decode('utf-8', 'replace').rstrip())}")
    return _error_line(request_id, message, encode)


def _error_line(request_id, message, encode):
    answer = {"error": message} if request_id is None else {"id": request_id, "error": message}
    return encode(answer).encode("utf-8") + b"\n"


def _run_error(e, request_id, encode):
    """The answer (str) to a run that raised e; logs the traceback unless e is a TaskError."""
    if isinstance(e, TaskError):
        return encode({"id": request_id, "error": str(e)})
    log(f'level=error msg="task raised" id={_quote(request_id)} error={_quote(_describe(e))}')
    traceback.print_exception(e, file=sys.stderr)
    sys.stderr.flush()
    return encode({"id": request_id, "error": _describe(e)})


def _result_error(e, request_id, encode):
    """The answer (str) to a run whose result json cannot encode."""
    log(f'level=error msg="task result is not JSON" id={_quote(request_id)} '
        f"error={_quote(_describe(e))}")
    return encode({"id": request_id, "error": f"result is not JSON: {_describe(e)}"})
