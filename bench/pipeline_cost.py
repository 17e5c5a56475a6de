"""What one ingested message costs inside the API process: SQL statements and CPU.

    .venv/bin/python bench/pipeline_cost.py [--backend sqlite|postgresql] [--batches 4] [--single]

The app runs in this process (FastAPI's TestClient, the real trained model, the background jobs off); batches of 100
messages go through POST /api/v1/messages/batch after a warm-up batch (--single: the same messages one request each
through POST /api/v1/messages). Prints statements per message and CPU
milliseconds per message of this process (the app and the test client; PostgreSQL's own CPU is not included).
Print only: a quick before/after check of a change to the pipeline, not a target figure. To see where the time
goes, run py-spy or cProfile around service.ingestion.ingest itself (the endpoint runs in a worker thread).
"""

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import harness
from fastapi.testclient import TestClient
from sqlalchemy import event

from models import Role

BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--single", action="store_true", help="one message per request")
    args = parser.parse_args()
    with harness.database(args.backend, Path(tempfile.mkdtemp())) as url:
        harness.apply_default_config(url)
        token = harness.create_user_with_token(url, "feed", role=Role.integration)
        os.environ.update(harness.server_env(url, WEBCARE_RUN_WORKER_IN_PROCESS="false"))
        from service.app import create_app  # after the environment: the settings are read from it
        from service.settings import Settings

        app = create_app(Settings())
        texts, sent_at = harness.sample_texts(), harness.sent_times()
        headers = {"Authorization": f"Bearer {token}"}
        run = uuid.uuid4().hex[:8]

        def post(batch: int) -> None:
            messages = [harness.message(run, batch * BATCH + i, texts, sent_at) for i in range(BATCH)]
            if args.single:
                for message in messages:
                    client.post("/api/v1/messages", json=message, headers=headers).raise_for_status()
                return
            answer = client.post("/api/v1/messages/batch", json={"messages": messages}, headers=headers)
            answer.raise_for_status()

        with TestClient(app) as client:
            statements = [0]

            def count(*_) -> None:
                statements[0] += 1

            event.listen(app.state.engine, "before_cursor_execute", count)
            post(0)  # warm-up: the model's first call, the configuration, the pool
            statements[0] = 0
            began = time.process_time()
            for batch in range(1, args.batches + 1):
                post(batch)
            cpu = time.process_time() - began
        count = args.batches * BATCH
        shape = "one per request" if args.single else f"in batches of {BATCH}"
        print(
            f"{args.backend}: {count} messages {shape}: {statements[0] / count:.1f} statements and "
            f"{cpu / count * 1000:.2f} ms of CPU (this process) per message"
        )


if __name__ == "__main__":
    main()
