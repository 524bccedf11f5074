"""Start moto's server with patchwork's ECS deployment extension.

    python test/emulator/launcher.py --port 5000 [--host 127.0.0.1] [--rollout-seconds 3]

Everything moto serves is unchanged (one port for all services, /moto-api/...);
the extension checks requests against AWS's API models, adds ECS service
deployments that progress over time, tasks that run as real containers when
possible, and /_patchwork/... control endpoints. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rollout-seconds", type=float, default=3.0)
    parser.add_argument("--no-containers", action="store_true", help="simulate every task (runContainers=false)")
    parser.add_argument("--no-validate", action="store_true",
                        help="pass requests to moto unchecked against AWS's API models (validateRequests=false)")
    parser.add_argument("--ca-dir", help="where the world's CA (ca.pem, ca.key) for HTTPS listeners is kept")
    args = parser.parse_args(argv)
    if not args.host.startswith("127.") and args.host != "localhost":
        parser.error("--host must be a loopback address")

    import moto
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from pwemu import patches
    from pwemu.control import Control
    from pwemu.world import World, log

    os.environ.setdefault("MOTO_PORT", str(args.port))
    if args.ca_dir:
        os.environ["PATCHWORK_EMULATOR_CA_DIR"] = os.path.abspath(args.ca_dir)
    world = World(args.port, {
        "rolloutSeconds": args.rollout_seconds,
        "runContainers": not args.no_containers,
        "validateRequests": not args.no_validate,
    })
    patches.apply(world)
    app = Control(DomainDispatcherApplication(create_backend_app), world, moto.__version__)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    world.start()

    def stop(signum: int, frame: object) -> None:
        log(f"signal {signum}: removing task containers and stopping")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"moto {moto.__version__} with patchwork extension on http://{args.host}:{args.port}")
    try:
        server.serve_forever()
    finally:
        world.shutdown()


if __name__ == "__main__":
    main()
