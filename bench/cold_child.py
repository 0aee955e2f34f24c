"""Child process of the cold-start and memory benchmarks: one fresh interpreter, one handler.

    python bench/cold_child.py RESULT.json empty
    python bench/cold_child.py RESULT.json handler MODULE.py EVENT.json COUNT

Loads MODULE.py by file path, as Lambda does (its folder first on sys.path, the module executed under
a name of its own, like postback_relay_tools.local.template.FunctionSpec.load), then answers EVENT.json
COUNT times. It writes wall-clock instants (time.time(), comparable with the parent's spawn instant)
and its peak RSS to RESULT.json. Logs go to stdout, which the parent discards.
"""

import time

T_MAIN = time.time()  # the first line of user code: interpreter start-up is over

import importlib.util  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402


class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 256
    log_group_name = "bench"
    log_stream_name = "bench"

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.aws_request_id = uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load(source: Path) -> object:
    print("bench: loading the handler", file=sys.stderr, flush=True)  # -X importtime: what follows is ours
    sys.path.insert(0, str(source.parent))
    spec = importlib.util.spec_from_file_location(f"bench_function_{source.stem}", source)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    result_path, mode = Path(sys.argv[1]), sys.argv[2]
    result: dict[str, object] = {"t_main": T_MAIN}
    if mode == "handler":
        source, event_path, count = Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
        module = load(source)
        handler = module.handler  # type: ignore[attr-defined]
        result["t_imported"] = time.time()
        event = json.loads(event_path.read_text())
        statuses = []
        for n in range(count):
            answer = handler(event, Context())
            statuses.append(answer["statusCode"])
            if n == 0:
                result["t_answer"] = time.time()
        result["t_done"] = time.time()
        result["statuses"] = sorted(set(statuses))
        result["tracer"] = getattr(module, "TRACER", None)
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
