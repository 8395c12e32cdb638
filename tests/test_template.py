"""Checks on the SAM template that the application code relies on.

The template uses short-form intrinsics (``!Ref``, ``!Sub``), which ``yaml.safe_load`` rejects,
so it is read with cfn-lint's own loader; intrinsics then appear in their long form
(``{"Ref": ...}``).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

# One worker runs every test that runs make or writes under .cache/ (make test runs in parallel).
pytestmark = pytest.mark.xdist_group("repo-files")

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"

WEBHOOK_HANDLER = "masking_unset.handlers.webhook.lambda_handler"
QUEUE_HANDLER = "masking_unset.handlers.queue.lambda_handler"

COMMON_ENVIRONMENT = {
    "AWS_ENDPOINT_URL",
    "DEEPCALL_ACCOUNTS",
    "DEEPCALL_ALLOW_HTTP",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_TRACE_DISABLED",
    "LOG_LEVEL",
    "DEEPCALL_BASE_URL",
    "DEEPCALL_SECRET_ID",
    "DEEPCALL_NUMBER_FORMAT",
    "PHONE_DEFAULT_REGION",
    "DEEPCALL_TIMEOUT_SECONDS",
    "IDEMPOTENCY_TABLE",
    "IDEMPOTENCY_WINDOW_SECONDS",
    "QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "QUEUE_MAX_RECEIVES",
    "MASKING_MAP_TABLE",
    "MAX_CONCURRENCY",
    "DEEPCALL_MAX_RPS",
    "DEEPCALL_MAX_RPS_PER_CONTAINER",
    "DRY_RUN",
    "DEEPCALL_ALREADY_DONE_CODES",
    "TICKET_STATE_TABLE",
    "FLEET_STATE_TABLE",
    "TRAIL_TABLE",
    "TRAIL_RETENTION_DAYS",
    "BREAKER_FAILURE_THRESHOLD",
    "BREAKER_OPEN_SECONDS",
    "QUEUE_DEFER_MAX_AGE_SECONDS",
    "EXPIRY_GRACE_MINUTES",
    "EXPIRY_GRACE_UNTIL",
    "REOPEN_EXTEND_MINUTES",
    "HASH_KEY_SECRET_ID",
}
# The hash key: the parameter's secret when given, else the one the template creates.
HASH_KEY = {
    "Fn::If": ["CreateHashKeySecret", {"Ref": "HashKeySecret"}, {"Ref": "HashKeySecretArn"}]
}

# The HTTP API integration limit: the webhook function must answer before it.
HTTP_API_INTEGRATION_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, errors = decode_str(TEMPLATE_PATH.read_text(encoding="utf-8"))
    assert not errors, errors
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _function_setting(template: dict[str, Any], function: str, key: str) -> Any:
    """A function property, falling back to Globals as SAM does."""
    properties = template["Resources"][function]["Properties"]
    if key in properties:
        return properties[key]
    return template["Globals"]["Function"][key]


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resource["Properties"].get("Policies", []):
        assert isinstance(policy, dict), (
            f"policy templates/managed names are not expected: {policy}"
        )
        assert "Statement" in policy, f"only inline policy documents are expected: {policy}"
        statements.extend(policy["Statement"])
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _secret_resources(resource: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for statement in _statements(resource):
        actions = _as_list(statement["Action"])
        if any(action.startswith("secretsmanager:") for action in actions):
            assert actions == ["secretsmanager:GetSecretValue"]
            found.extend(_as_list(statement["Resource"]))
    return found


def _contains_wildcard(value: Any) -> bool:
    if isinstance(value, str):
        return "*" in value
    if isinstance(value, dict):
        return any(_contains_wildcard(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_wildcard(item) for item in value)
    return False


def test_handlers_point_at_the_handler_modules(resources: dict[str, Any]) -> None:
    assert resources["WebhookFunction"]["Properties"]["Handler"] == WEBHOOK_HANDLER
    assert resources["QueueFunction"]["Properties"]["Handler"] == QUEUE_HANDLER


@pytest.mark.parametrize("function", ["WebhookFunction", "QueueFunction"])
def test_functions_run_python_313_on_arm64(template: dict[str, Any], function: str) -> None:
    assert _function_setting(template, function, "Runtime") == "python3.13"
    assert _function_setting(template, function, "Architectures") == ["arm64"]
    assert _function_setting(template, function, "CodeUri") == "src/function/"
    assert _function_setting(template, function, "Tracing") == {"Ref": "Tracing"}


def test_tracing_is_a_parameter_and_off_means_powertools_never_loads_the_sdk(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["Tracing"]
    assert parameter["Default"] == "Active"
    assert set(parameter["AllowedValues"]) == {"Active", "PassThrough"}
    assert template["Conditions"]["HasTracing"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["HasTracing", "false", "true"]}


def test_environment_is_shared_and_complete(template: dict[str, Any]) -> None:
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(common) == COMMON_ENVIRONMENT
    assert common["POWERTOOLS_SERVICE_NAME"] == "masking-unset"
    assert common["MASKING_MAP_TABLE"] == {
        "Fn::If": ["HasMaskingMapTable", {"Ref": "MaskingMapTable"}, ""]
    }
    webhook = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    assert webhook["WEBHOOK_SECRETS_ID"] == {"Ref": "WebhookSecretsArn"}
    assert {"HUBSPOT_CLOSED_STAGES", "PUBLIC_BASE_URL", "SALESFORCE_ORG_IDS"} <= set(webhook)
    assert {f"SOURCE_FIELDS_{s}" for s in ("ZENDESK", "FRESHDESK", "HUBSPOT", "SALESFORCE")} <= set(
        webhook
    )


def test_every_variable_the_template_sets_is_one_the_code_reads(template: dict[str, Any]) -> None:
    from masking_unset.config import Settings

    known = {field.alias for field in Settings.model_fields.values()} | {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_TRACE_DISABLED",
        "LOG_LEVEL",
        "AWS_ENDPOINT_URL",  # boto3's, empty: for `make local-invoke` only
    }
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in ("WebhookFunction", "QueueFunction"):
        properties = template["Resources"][function]["Properties"]
        names |= set(properties.get("Environment", {}).get("Variables", {}))
    assert names - known == set()


def test_webhook_function_answers_within_the_http_api_limit(template: dict[str, Any]) -> None:
    timeout = _function_setting(template, "WebhookFunction", "Timeout")
    assert timeout < HTTP_API_INTEGRATION_TIMEOUT_SECONDS


def test_webhook_route_and_no_function_url(resources: dict[str, Any]) -> None:
    webhook = resources["WebhookFunction"]["Properties"]
    assert "FunctionUrlConfig" not in webhook
    event = webhook["Events"]["Webhook"]
    assert event["Type"] == "HttpApi"
    assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert event["Properties"]["Method"] == "POST"
    assert event["Properties"]["Path"] == "/webhooks/{source}"


def test_sqs_event_reports_batch_item_failures(template: dict[str, Any]) -> None:
    events = template["Resources"]["QueueFunction"]["Properties"]["Events"]
    sqs_events = [event for event in events.values() if event["Type"] == "SQS"]
    assert len(sqs_events) == 1
    properties = sqs_events[0]["Properties"]
    assert properties["Queue"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BatchSize"] == 10
    assert properties["MaximumBatchingWindowInSeconds"] == 0
    assert properties["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "QueueMaximumConcurrency"}
    parameter = template["Parameters"]["QueueMaximumConcurrency"]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (2, 1000)


def test_visibility_timeout_covers_six_function_timeouts(template: dict[str, Any]) -> None:
    timeout = _function_setting(template, "QueueFunction", "Timeout")
    events = template["Resources"]["QueueFunction"]["Properties"]["Events"]
    window = max(e["Properties"].get("MaximumBatchingWindowInSeconds", 0) for e in events.values())
    visibility = template["Resources"]["Queue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * timeout + window


def test_queue_redrives_to_the_dead_letter_queue(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    queue = resources["Queue"]["Properties"]
    # The function parks a record on its last delivery itself, with its reason: both must agree.
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "QueueMaxReceives"}
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert common["QUEUE_MAX_RECEIVES"] == {"Ref": "QueueMaxReceives"}
    assert template["Parameters"]["QueueMaxReceives"]["Default"] == 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }
    assert queue["SqsManagedSseEnabled"] is True

    dead_letter = resources["DeadLetterQueue"]["Properties"]
    assert dead_letter["SqsManagedSseEnabled"] is True
    assert dead_letter["MessageRetentionPeriod"] == 14 * 24 * 3600
    allow = dead_letter["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    # The source ARN is spelled out (a GetAtt would be circular); it must end with the queue's name.
    (source_arn,) = allow["sourceQueueArns"]
    queue_name = queue["QueueName"]["Fn::Sub"]
    assert source_arn["Fn::Sub"].endswith(f":{queue_name}")


ACCOUNT_SECRETS = {
    "Fn::If": [
        "HasAccountSecrets",
        {"Ref": "DeepCallAccountSecretArns"},
        [{"Ref": "DeepCallSecretArn"}],
    ]
}


def test_secret_policies_name_only_the_secret_parameters(resources: dict[str, Any]) -> None:
    assert _secret_resources(resources["WebhookFunction"]) == [
        {"Ref": "DeepCallSecretArn"},
        {"Ref": "WebhookSecretsArn"},
        ACCOUNT_SECRETS,
        HASH_KEY,
    ]
    assert _secret_resources(resources["QueueFunction"]) == [
        {"Ref": "DeepCallSecretArn"},
        ACCOUNT_SECRETS,
        HASH_KEY,
    ]


def test_named_accounts_reach_the_functions_and_their_routes(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert common["DEEPCALL_ACCOUNTS"] == {"Ref": "DeepCallAccounts"}
    events = resources["WebhookFunction"]["Properties"]["Events"]
    paths = {event["Properties"]["Path"] for event in events.values()}
    assert paths == {"/webhooks/{source}", "/webhooks/{source}/{account}"}
    # An account's secrets are listed ARN by ARN, each refused if it holds a wildcard.
    pattern = re.compile(template["Parameters"]["DeepCallAccountSecretArns"]["AllowedPattern"])
    assert pattern.fullmatch("")  # no named accounts
    assert pattern.fullmatch("arn:aws:secretsmanager:ap-south-1:123456789012:secret:brand-b-AbCdEf")
    assert not pattern.fullmatch("arn:aws:secretsmanager:ap-south-1:123456789012:secret:*")


def test_the_hash_key_is_generated_unless_a_secret_is_given(template: dict[str, Any]) -> None:
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert common["HASH_KEY_SECRET_ID"] == HASH_KEY
    assert template["Conditions"]["CreateHashKeySecret"] == {
        "Fn::Equals": [{"Ref": "HashKeySecretArn"}, ""]
    }
    assert template["Parameters"]["HashKeySecretArn"]["Default"] == ""
    secret = template["Resources"]["HashKeySecret"]
    assert secret["Condition"] == "CreateHashKeySecret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {}
    assert generated["GenerateStringKey"] == "key"
    assert generated["ExcludePunctuation"] is True
    assert generated["IncludeSpace"] is False
    # 64 characters of [A-Za-z0-9], valid base64 without padding: 48 bytes, at least 32.
    assert generated["PasswordLength"] % 4 == 0
    assert generated["PasswordLength"] * 3 // 4 >= 32


def test_a_generated_style_key_is_one_the_functions_accept() -> None:
    import random
    import string

    from masking_unset.models.hashing import parse_hash_keys

    alphabet = string.ascii_letters + string.digits
    for seed in range(50):
        value = "".join(random.Random(seed).choices(alphabet, k=64))
        parse_hash_keys({"key": value})  # raises for one that is not base64 or too short


@pytest.mark.parametrize("function", ["WebhookFunction", "QueueFunction"])
def test_no_policy_statement_uses_a_wildcard(resources: dict[str, Any], function: str) -> None:
    statements = _statements(resources[function])
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert not _contains_wildcard(statement["Resource"]), statement
        assert not _contains_wildcard(statement["Action"]), statement


@pytest.mark.parametrize(
    "parameter", ["DeepCallSecretArn", "WebhookSecretsArn", "HashKeySecretArn"]
)
def test_secret_arn_parameters_refuse_wildcards(template: dict[str, Any], parameter: str) -> None:
    pattern = re.compile(template["Parameters"][parameter]["AllowedPattern"])
    good = "arn:aws:secretsmanager:ap-south-1:123456789012:secret:masking-unset/deepcall-AbCdEf"
    assert pattern.fullmatch(good)
    assert not pattern.fullmatch("arn:aws:secretsmanager:ap-south-1:123456789012:secret:*")
    assert not pattern.fullmatch("*")


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://x.example", True),
        ("https://v4-api.deepcall.com", True),
        ("https://x.example:8443/base", True),
        ("http://x", False),
        ("http://x.example", False),
        ("x.example", False),
        ("https://", False),
        ("", False),
    ],
)
def test_deepcall_base_url_must_be_https(
    template: dict[str, Any], url: str, accepted: bool
) -> None:
    parameter = template["Parameters"]["DeepCallBaseUrl"]
    assert parameter["ConstraintDescription"]
    assert bool(re.fullmatch(parameter["AllowedPattern"], url)) is accepted


def test_log_groups_have_retention(template: dict[str, Any]) -> None:
    log_groups = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    assert len(log_groups) == 3
    for resource in log_groups.values():
        assert resource["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]
    assert retention["Default"] == 30


@pytest.mark.parametrize(
    ("function", "log_group"),
    [("WebhookFunction", "WebhookLogGroup"), ("QueueFunction", "QueueLogGroup")],
)
def test_functions_log_json_to_their_own_group(
    resources: dict[str, Any], function: str, log_group: str
) -> None:
    properties = resources[function]["Properties"]
    assert properties["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group}}
    function_name = properties["FunctionName"]["Fn::Sub"]
    group_name = resources[log_group]["Properties"]["LogGroupName"]["Fn::Sub"]
    assert group_name == f"/aws/lambda/{function_name}"


def test_access_log_omits_bodies_and_query_strings(resources: dict[str, Any]) -> None:
    settings = resources["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])
    assert set(fields) == {
        "requestId",
        "ip",
        "routeKey",
        "status",
        "responseLength",
        "integrationError",
    }
    lowered = settings["Format"].lower()
    for leaked in ("body", "querystring", "path", "authorizer", "header"):
        assert leaked not in lowered


def test_api_is_throttled(resources: dict[str, Any]) -> None:
    route_settings = resources["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert route_settings == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
    }


@pytest.mark.parametrize(
    ("table", "key", "ttl"),
    [
        ("IdempotencyTable", "id", "expiration"),
        ("MaskingMapTable", "pk", "expires_at"),
        ("TicketStateTable", "id", "expiration"),
        ("FleetStateTable", "id", "expiration"),
        ("TrailTable", "id", "expiration"),
    ],
)
def test_tables(resources: dict[str, Any], table: str, key: str, ttl: str) -> None:
    properties = resources[table]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_mapping_table_is_optional(template: dict[str, Any]) -> None:
    assert template["Resources"]["MaskingMapTable"]["Condition"] == "HasMaskingMapTable"
    assert template["Outputs"]["MaskingMapTableName"]["Condition"] == "HasMaskingMapTable"


def test_alarms_notify_only_when_a_topic_is_given(resources: dict[str, Any]) -> None:
    alarms = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    metrics = sorted((alarm["Namespace"], alarm["MetricName"]) for alarm in alarms.values())
    assert metrics == [
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("MaskingUnset", "DeferredWhileOpen"),
        ("MaskingUnset", "ExpiryLag"),
    ]
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_outputs(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) == {
        "WebhookUrl",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "IdempotencyTableName",
        "MaskingMapTableName",
        "TicketStateTableName",
        "FleetStateTableName",
        "TrailTableName",
        "WebhookFunctionName",
        "QueueFunctionName",
    }
    webhook_url = template["Outputs"]["WebhookUrl"]["Value"]["Fn::Sub"]
    assert webhook_url.startswith("https://${HttpApi}.execute-api.")
    assert webhook_url.endswith("/webhooks/")


def test_both_functions_may_use_the_ticket_state_table(resources: dict[str, Any]) -> None:
    for function in ("WebhookFunction", "QueueFunction"):
        [policy] = resources[function]["Properties"]["Policies"]
        [tables] = [s for s in policy["Statement"] if s.get("Sid") == "Tables"]
        assert {"Fn::GetAtt": ["TicketStateTable", "Arn"]} in tables["Resource"]
        assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= set(
            tables["Action"]
        )


def test_the_lag_alarm_watches_the_p99_over_a_parameter(resources: dict[str, Any]) -> None:
    alarm = resources["ExpiryLagAlarm"]["Properties"]
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["Threshold"] == {"Ref": "ExpiryLagAlarmMilliseconds"}
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "masking-unset"}]


def test_the_dashboard_shows_the_lifecycle(resources: dict[str, Any]) -> None:
    dashboard = resources["Dashboard"]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # The substitutions CloudFormation makes, with values of the right JSON type.
    body = json.loads(
        text.replace("${AWS::Region}", "eu-west-1").replace("${DeadLetterQueue.QueueName}", "dlq")
    )
    shown = json.dumps(body)
    for metric in (
        "WebhooksReceived",
        "RecordsReceived",
        "MaskingsExpired",
        "MaskingsScheduled",
        "MaskingsExtended",
        "StaleEvents",
        "EventsFailed",
        "DeadLettered",
        "ApproximateNumberOfMessagesVisible",
        "UpstreamErrors",
        "UnrecognisedStatus",
    ):
        assert metric in shown, metric
    # Each DeepCall account's expiries and circuit, from the metrics' account dimension.
    expressions = [
        entry[0]["expression"]
        for widget in body["widgets"]
        for entry in widget["properties"]["metrics"]
        if isinstance(entry[0], dict)
    ]
    for name in ("MaskingsExpired", "CircuitOpened"):
        searched = f'{{MaskingUnset,service,account}} MetricName="{name}"'
        assert any(searched in expression for expression in expressions), name
    stats = [
        entry[-1]["stat"]
        for widget in body["widgets"]
        for entry in widget["properties"]["metrics"]
        if "ExpiryLag" in entry
    ]
    assert stats == ["p50", "p99"]


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    assert cfn_lint.exists(), f"cfn-lint is not installed next to {sys.executable}"
    # Fixed arguments, no shell: nothing untrusted reaches the command line.
    result = subprocess.run(  # noqa: S603
        [str(cfn_lint), str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        check=False,
        cwd=TEMPLATE_PATH.parent,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_snapstart_is_a_parameter_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "Disabled"
    assert sorted(parameter["AllowedValues"]) == ["Disabled", "Enabled"]
    assert template["Conditions"]["HasSnapStart"] == {
        "Fn::Equals": [{"Ref": "SnapStart"}, "Enabled"]
    }


@pytest.mark.parametrize("function", ["WebhookFunction", "QueueFunction"])
def test_snapstart_applies_to_the_published_version_behind_the_alias(
    template: dict[str, Any], function: str
) -> None:
    assert _function_setting(template, function, "SnapStart") == {
        "Fn::If": ["HasSnapStart", {"ApplyOn": "PublishedVersions"}, {"Ref": "AWS::NoValue"}]
    }
    # SAM points the HTTP API route and the SQS event source at this alias.
    assert _function_setting(template, function, "AutoPublishAlias") == "live"
    # Turning SnapStart on must publish a new version: the version's id does not see parameters.
    properties = template["Resources"][function]["Properties"]
    description = properties["VersionDescription"]
    assert description["Fn::If"][0] == "HasSnapStart"
    assert description["Fn::If"][1] != description["Fn::If"][2]
    # ... nor does it see a new layer, unless every property and the layer's are hashed.
    assert properties["AutoPublishAliasAllProperties"] is True
    assert template["Resources"]["DependenciesLayer"]["Properties"]["PublishLambdaVersion"] is True


@pytest.mark.parametrize("function", ["WebhookFunction", "QueueFunction"])
def test_both_functions_load_their_dependencies_from_one_layer(
    template: dict[str, Any], function: str
) -> None:
    assert _function_setting(template, function, "Layers") == [{"Ref": "DependenciesLayer"}]
    layer = template["Resources"]["DependenciesLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleArchitectures"] == _function_setting(
        template, function, "Architectures"
    )
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]


def _variants() -> Any:
    spec = importlib.util.spec_from_file_location(
        "snapstart_variants", TEMPLATE_PATH.parent / ".ci" / "snapstart_variants.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cfn_lint_reports_nothing_with_snapstart_on_and_off(tmp_path: Path) -> None:
    enabled, disabled = _variants().write_all(tmp_path)
    on, off = (json.loads(path.read_text())["Globals"]["Function"] for path in (enabled, disabled))
    assert on["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert "SnapStart" not in off
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(  # noqa: S603 - fixed arguments, files this test wrote
        [str(cfn_lint), str(enabled), str(disabled)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_an_outage_shorter_than_the_queue_retention_parks_nothing(
    template: dict[str, Any],
) -> None:
    # The age at which a deferred event is finally parked is the queue's own retention.
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    retention = template["Resources"]["Queue"]["Properties"]["MessageRetentionPeriod"]
    assert int(common["QUEUE_DEFER_MAX_AGE_SECONDS"]) == int(retention)


def test_queue_function_may_defer_to_its_own_queue_only(resources: dict[str, Any]) -> None:
    statements = resources["QueueFunction"]["Properties"]["Policies"][0]["Statement"]
    defer = next(s for s in statements if s["Sid"] == "DeferWhileDeepCallIsDown")
    assert defer["Action"] == ["sqs:SendMessage"]
    assert defer["Resource"] == [{"Fn::GetAtt": ["Queue", "Arn"]}]
    fleet = next(s for s in statements if s["Sid"] == "FleetState")
    assert fleet["Resource"] == [{"Fn::GetAtt": ["FleetStateTable", "Arn"]}]
    assert "dynamodb:DeleteItem" not in fleet["Action"]


def test_sam_local_can_point_the_functions_at_local_stand_ins(template: dict[str, Any]) -> None:
    # SAM's --env-vars sets only declared variables; in AWS they keep AWS's endpoints and https.
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert common["AWS_ENDPOINT_URL"] == ""
    assert common["DEEPCALL_ALLOW_HTTP"] == "false"


def test_the_trail_is_looked_up_by_ticket_and_by_masking_and_written_by_both_functions(
    resources: dict[str, Any],
) -> None:
    properties = resources["TrailTable"]["Properties"]
    indexes = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in properties["GlobalSecondaryIndexes"]
    }
    assert indexes == {"by-ticket": ["ticket"], "by-mask": ["mask_hash"]}
    for function in ("WebhookFunction", "QueueFunction"):
        [policy] = resources[function]["Properties"]["Policies"]
        [trail] = [s for s in policy["Statement"] if s.get("Sid") == "Trail"]
        # Least privilege: the functions only append; reading is the operator's (the CLI).
        assert set(trail["Action"]) == {"dynamodb:PutItem", "dynamodb:UpdateItem"}
        assert trail["Resource"] == [{"Fn::GetAtt": ["TrailTable", "Arn"]}]
        others = [s for s in policy["Statement"] if s.get("Sid") != "Trail"]
        assert all(
            {"Fn::GetAtt": ["TrailTable", "Arn"]} not in _as_list(s.get("Resource", []))
            for s in others
        )
