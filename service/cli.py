"""The `webcare` command line: serve, migrate, seed, train, evaluate, classify, users and tokens."""

import argparse
import getpass
import json
import logging
import os
import sys
from pathlib import Path

import uvicorn

import classifier
from models import Channel, Role, utcnow
from service import audit, auth, demo, importer, migrations, modelops, retention, worker
from service.configuration import DEFAULT_CONFIG, apply_config, read_config_file
from service.db import create_db_engine, session_scope
from service.errors import WebcareError
from service.settings import Settings, get_settings

log = logging.getLogger("webcare")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args, settings) or 0
    except (WebcareError, classifier.ModelError, ValueError, FileNotFoundError) as exc:
        # An operator's mistake gets one clear line, not a traceback.
        print(f"webcare {args.command}: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webcare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API and web interface")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="API processes (more than one needs PostgreSQL)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database to the newest schema")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed", help="load the default configuration (departments, rules, targets)")
    seed.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="a file shaped like the default")
    seed.add_argument("--demo", action="store_true", help="also demo users (password 'demo') and two weeks of tickets")
    seed.set_defaults(handler=cmd_seed)

    train = commands.add_parser("train", help="train the classifier and print its evaluation")
    train.add_argument("--data", type=Path, default=modelops.TRAIN_DATA)
    train.add_argument("--eval-data", type=Path, default=modelops.EVAL_DATA)
    train.add_argument("--out", type=Path, default=None, help="write the model to this folder, not the registry")
    train.add_argument(
        "--if-missing", action="store_true", help="do nothing when a model of the current format is already active"
    )
    train.add_argument(
        "--include-feedback", action="store_true", help="also learn from agents' corrections and triage decisions"
    )
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="score the current model on labelled JSON lines")
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--threshold", type=float, default=None, help="triage threshold (default: the setting)")
    evaluate.set_defaults(handler=cmd_evaluate)

    classify = commands.add_parser("classify", help='read {"id","text"} lines on stdin, write predictions')
    classify.set_defaults(handler=cmd_classify)

    model = commands.add_parser("model", help="list, activate or roll back classifier versions")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    model_commands.add_parser("list", help="every trained version, newest first").set_defaults(handler=cmd_model_list)
    activate = model_commands.add_parser("activate", help="make a version the active one")
    activate.add_argument("version")
    activate.add_argument("--force", action="store_true", help="even if it scores worse than the active one")
    activate.set_defaults(handler=cmd_model_activate)
    model_commands.add_parser("rollback", help="back to the previously active version").set_defaults(
        handler=cmd_model_rollback
    )

    load = commands.add_parser("import", help="take in messages from a CSV or JSON-lines export")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=importer.FORMATS, default=None, help="default: from the file's extension")
    load.add_argument("--dry-run", action="store_true", help="check every row, store nothing")
    load.set_defaults(handler=cmd_import)

    work = commands.add_parser("worker", help="run the background jobs: SLA sweeper and deliveries")
    work.set_defaults(handler=cmd_worker)

    create_user = commands.add_parser("create-user", help="add a user")
    create_user.add_argument("name")
    create_user.add_argument("--role", required=True, choices=[r.value for r in Role])
    create_user.add_argument("--department", action="append", default=[], help="department slug (repeatable)")
    create_user.add_argument("--full-name", default=None)
    create_user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create_user.set_defaults(handler=cmd_create_user)

    create_token = commands.add_parser("create-token", help="print a new API token for a user")
    create_token.add_argument("name")
    create_token.add_argument("--days", type=int, default=None, help="let the token expire after this many days")
    create_token.add_argument(
        "--scope",
        action="append",
        default=[],
        choices=[scope.value for scope in auth.Scope],
        help="limit the token to this use (repeatable); without it the token has its user's full rights",
    )
    create_token.set_defaults(handler=cmd_create_token)

    privacy = commands.add_parser("privacy", help="a citizen's data: export everything about a handle, or erase it")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    export = privacy_commands.add_parser("export", help="print (or write) everything stored about a handle as JSON")
    erase = privacy_commands.add_parser("erase", help="anonymise everything stored about a handle at once")
    for sub in (export, erase):
        sub.add_argument("--handle", required=True, help="as the channel gives it, e.g. @jan or a phone number")
        sub.add_argument("--channel", choices=[c.value for c in Channel], default=None, help="default: every channel")
    export.add_argument("--out", type=Path, default=None, help="write to this file (readable by you only)")
    export.set_defaults(handler=cmd_privacy_export)
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(handler=cmd_privacy_erase)
    return parser


def _audit_cli(session, action: str, object_type: str, object_id=None, detail: dict | None = None) -> None:
    """Changes from the command line are recorded as user "cli", with the account that ran the command."""
    try:
        account = getpass.getuser()
    except (KeyError, OSError):
        account = None
    audit.record(
        session,
        user=audit.CLI,
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail={**(detail or {}), "os_user": account},
    )


def cmd_serve(args, settings: Settings) -> int:
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=30,
    )
    return 0


def cmd_migrate(args, settings: Settings) -> int:
    migrations.upgrade(settings.database_url, args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def cmd_seed(args, settings: Settings) -> int:
    if args.demo and settings.environment == "production":
        raise ValueError("refusing to load demo users and tickets in production")
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        counts = apply_config(session, read_config_file(args.config))
        _audit_cli(session, "apply_config", "configuration", detail={"file": str(args.config), **counts})
    print("configuration loaded: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    if args.demo:
        model = classifier.load_model(settings.model_path)
        result = demo.seed_demo(engine, settings, model, texts_file=modelops.EVAL_DATA, now=utcnow())
        with session_scope(engine) as session:
            _audit_cli(session, "seed_demo", "configuration", detail={k: v for k, v in result.items()})
        if result.get("skipped"):
            print("demo data already present; left as it is")
        else:
            print(
                f"demo data: {result['tickets']} tickets, {result['replies']} replies, {result['resolved']} resolved; "
                f"log in as anna, bram, chris (agents), mila (manager) or admin with password '{demo.DEMO_PASSWORD}'"
            )
    return 0


def cmd_train(args, settings: Settings) -> int:
    if args.if_missing and modelops.has_current_model(settings):
        print("a trained model is active; not training (drop --if-missing to train anew)")
        return 0
    extra = modelops.feedback_examples(create_db_engine(settings)) if args.include_feedback else []
    if args.include_feedback:
        print(f"learning from {len(extra)} corrections and triage decisions")
    outcome = modelops.train_model(
        settings, data=args.data, eval_data=args.eval_data, out=args.out, extra_examples=extra
    )
    print(outcome.summary)
    return 0


def cmd_model_list(args, settings: Settings) -> int:
    versions = modelops.registry(settings).versions()
    if not versions:
        print("no trained models yet: run webcare train")
        return 0
    print(f"{'version':34} {'created':20} {'macro-F1':>8} {'feedback':>8}  active")
    for v in versions:
        f1 = v.get("evaluation", {}).get("macro_f1")
        print(
            f"{v['version']:34} {str(v.get('created_at', ''))[:19]:20} "
            f"{(f'{f1:.3f}' if f1 is not None else '-'):>8} {v.get('feedback_examples', 0):>8}  "
            f"{'*' if v['active'] else ''}"
        )
    return 0


def cmd_model_activate(args, settings: Settings) -> int:
    print(f"model {modelops.activate(settings, args.version, force=args.force)} is now active")
    return 0


def cmd_model_rollback(args, settings: Settings) -> int:
    print(f"rolled back: model {modelops.registry(settings).rollback()} is now active")
    return 0


def cmd_evaluate(args, settings: Settings) -> int:
    threshold = settings.triage_threshold if args.threshold is None else args.threshold
    model = classifier.load_model(settings.model_path)
    report = classifier.evaluate(model, classifier.load_examples(args.data), threshold=threshold)
    report["model_version"] = model.version
    print(json.dumps(report, indent=2) if args.json else classifier.format_report(report))
    return 0


def cmd_classify(args, settings: Settings) -> int:
    model = classifier.load_model(settings.model_path)
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            print(f'webcare classify: line {number}: expected {{"id": ..., "text": "..."}}', file=sys.stderr)
            return 2
        prediction = model.predict([text])[0]
        out = {"id": item.get("id"), "category": prediction.label, "confidence": round(prediction.confidence, 4)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0


def cmd_import(args, settings: Settings) -> int:
    """Exit 0 when every row was valid, 1 when some were refused (listed in FILE.refused.csv)."""
    fmt = args.format or importer.guess_format(args.file)
    model = classifier.load_model(settings.model_path)
    summary = importer.import_file(
        create_db_engine(settings),
        args.file,
        fmt=fmt,
        classifier=model,
        settings=settings,
        dry_run=args.dry_run,
        progress=importer.Progress(importer.count_records(args.file, fmt)),
    )
    print(("dry run, nothing stored: " if args.dry_run else "") + summary.line(), file=sys.stderr)
    report = importer.write_refused(args.file, summary.refused)
    if report is not None:
        for refused in summary.refused[:10]:
            print(f"  line {refused.line}: {refused.reason}", file=sys.stderr)
        if len(summary.refused) > 10:
            print(f"  … and {len(summary.refused) - 10} more", file=sys.stderr)
        print(f"refused rows: {report}", file=sys.stderr)
    return 1 if summary.refused else 0


def cmd_worker(args, settings: Settings) -> int:
    worker.run_worker(settings)
    return 0


def cmd_create_user(args, settings: Settings) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise ValueError("no password on stdin")
    with session_scope(create_db_engine(settings)) as session:
        user = auth.create_user(
            session,
            args.name,
            role=Role(args.role),
            departments=args.department,
            password=password,
            full_name=args.full_name,
        )
        about = {"username": user.username, "role": user.role, "departments": args.department}
        _audit_cli(session, "create", "user", user.id, about)
        print(f"user '{user.username}' created with role {user.role}", file=sys.stderr)
    return 0


def cmd_create_token(args, settings: Settings) -> int:
    with session_scope(create_db_engine(settings)) as session:
        token = auth.create_token(session, args.name, valid_days=args.days, scopes=args.scope)
        _audit_cli(session, "create", "token", detail={"username": args.name, "days": args.days, "scopes": args.scope})
    print(token)
    return 0


def cmd_privacy_export(args, settings: Settings) -> int:
    now = utcnow()
    with session_scope(create_db_engine(settings)) as session:
        document = retention.export_handle(session, settings, handle=args.handle, channel=args.channel, now=now)
        retention.record_export(session, document, user=audit.CLI, ip=None, now=now)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        # The export holds everything we know about a person: not readable by other accounts on the machine.
        descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {len(document['tickets'])} ticket(s) about {args.handle} to {args.out}", file=sys.stderr)
    return 0


def cmd_privacy_erase(args, settings: Settings) -> int:
    """Exit 0 when erased, 1 when the operator did not confirm."""
    engine = create_db_engine(settings)
    if not args.yes:
        with session_scope(engine, write=False) as session:
            found = retention.summary(session, handle=args.handle, channel=args.channel)
        print(
            f"{args.handle}: {found['tickets']} ticket(s) and {found['messages']} message(s) will be anonymised; "
            "this cannot be undone.",
            file=sys.stderr,
        )
        if not sys.stdin.isatty():
            print("webcare privacy erase: not confirmed (no terminal); pass --yes", file=sys.stderr)
            return 1
        if input("Type 'yes' to erase: ").strip().lower() != "yes":
            print("nothing erased", file=sys.stderr)
            return 1
    with session_scope(engine) as session:
        result = retention.erase_handle(
            session, handle=args.handle, channel=args.channel, now=utcnow(), user=audit.CLI, ip=None
        )
    print(json.dumps(result))
    return 0
