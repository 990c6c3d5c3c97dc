"""`monop test receivers`: a test alert per AlertReceiver through the live Alertmanager
(monop.prometheus.receivertest); `monop test rule` is monop.cli.rulecheck's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from monop.cli.app import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    Format,
    JsonOpt,
    OutputOpt,
    fail,
    load,
    note,
    output_format,
    print_document,
)
from monop.cli.flags import with_settings
from monop.cli.main import test_app
from monop.cli.state import connect, desired_state

if TYPE_CHECKING:
    from monop.prometheus.receivertest import ReceiverTest

EXIT_INTERRUPTED = 130  # as a shell reports SIGINT
RESULTS_FILE = "receiver-tests.json"  # in state_dir: each receiver's last test, shown by `status`


@test_app.command("receivers")
@with_settings
def test_receivers(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="AlertReceiver names (default: all).", show_default=False)
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait per receiver (default: its groupWait + 15).", show_default=False),
    ] = None,
    allow_fanout: Annotated[
        bool,
        typer.Option(
            "--allow-fanout", help="Send a test alert that other receivers get too (routes with continue)."
        ),
    ] = False,
    output: OutputOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send each receiver a test alert through the live Alertmanager and say what became of it.

    One line per receiver: delivered, failed (with Alertmanager's error), not routed (which
    earlier route catches it; then it is not sent), no integrations, or uncertain (Alertmanager
    0.25 counts attempts per integration type; set alertmanager_log or alertmanager_container
    so its log names the receiver). A test alert that routes with continue would also send to
    other receivers is not sent unless --allow-fanout. Test alerts are resolved before it ends.
    Exit 0 when every receiver named got its test (in a run of all, one without integrations is
    no failure), 1 when one did not, 3 when a verdict could not be told, 2 for an unknown name or
    option, 130 when interrupted (the verdicts told so far are kept).
    """
    import asyncio
    import contextlib

    from monop.desired.alerting import receivers
    from monop.prometheus import alertmanager as am
    from monop.prometheus.amlog import AlertmanagerLog, ContainerLog, NotifyLog
    from monop.prometheus.receivertest import Outcome, resolved_earlier, run_receiver_tests, save_results

    settings = load(ctx)
    form = output_format(output, as_json)
    if form in (Format.WIDE, Format.NAME):
        fail(f"-o {form}: test receivers prints its lines, -o json or -o yaml", EXIT_USAGE)
    if timeout is not None and not timeout > 0:
        fail(f"--timeout {timeout:g}: give a number of seconds above 0", EXIT_USAGE)
    if not settings.alertmanager_url:
        fail(
            "set alertmanager_url (Alertmanager's API, e.g. http://127.0.0.1:9093) to test receivers",
            EXIT_USAGE,
        )
    state = desired_state(settings)
    known = [r.name for r in receivers(state.alerting)]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        fail(
            f"no AlertReceiver named {', '.join(unknown)}; the receivers are {', '.join(known) or 'none'}",
            EXIT_USAGE,
        )
    if not known:
        fail("the desired state has no AlertReceiver to test", EXIT_PROBLEM)
    podman = connect(settings) if settings.alertmanager_container and not settings.alertmanager_log else None
    log: NotifyLog | None = None
    if settings.alertmanager_log:
        log = AlertmanagerLog(settings.alertmanager_log)
        try:
            settings.alertmanager_log.stat()
        except OSError as err:
            fail(f"alertmanager_log: cannot read {settings.alertmanager_log}: {err.strerror}", EXIT_USAGE)
    elif podman is not None and settings.alertmanager_container:
        container = settings.alertmanager_container
        log = ContainerLog(lambda since: podman.logs(container, since))

    told: list[ReceiverTest] = []

    def shown(result: ReceiverTest) -> None:
        told.append(result)
        if form is None:
            typer.echo(str(result))

    async def go() -> tuple[am.ConfigStatus, list[ReceiverTest]]:
        async with am.connect(settings.alertmanager_url) as api:
            assert api is not None
            config = await am.status(state.alerting, settings.alertmanager_config, api)
            if config.state is not am.ConfigState.LOADED:
                return config, []
            found = await run_receiver_tests(
                state.alerting,
                api,
                names or (),
                log=log,
                timeout=timeout,
                done=shown,
                resolved=resolved_earlier(settings.state_dir / RESULTS_FILE),
                allow_fanout=allow_fanout,
            )
            return config, found

    try:
        config, results = asyncio.run(go())
    except KeyboardInterrupt:
        # The test alerts were resolved as the run was cancelled; the verdicts told so far are kept.
        with contextlib.suppress(OSError):
            save_results(settings.state_dir / RESULTS_FILE, told)
        note(f"interrupted after {len(told)} receiver(s); their test alerts were resolved")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        if podman is not None:
            podman.close()
    if config.state is not am.ConfigState.LOADED:
        # Tested against another config, the verdicts would not be about these receivers.
        code = EXIT_UNKNOWN if config.state is am.ConfigState.WRITTEN else EXIT_PROBLEM
        fail(f"{config}; nothing was sent", code)
    try:
        save_results(settings.state_dir / RESULTS_FILE, results)
    except OSError as err:
        note(f"the results were not kept for `monop status`: {err.filename}: {err.strerror}")
    if form is not None:
        print_document(
            {"receivers": [r.to_json() for r in results]}, form if form is Format.YAML else Format.JSON
        )
    # A receiver without integrations drops alerts on purpose: in a run of all, that is no failure.
    judged = [r for r in results if names or r.outcome is not Outcome.NO_INTEGRATIONS]
    if all(r.ok for r in judged):
        raise typer.Exit(EXIT_OK)
    if all(r.ok or r.outcome in (Outcome.UNCERTAIN, Outcome.UNTESTABLE) for r in judged):
        raise typer.Exit(EXIT_UNKNOWN)
    raise typer.Exit(EXIT_PROBLEM)
