"""The SQS-limits double in front of moto: through it boto3 meets the refusals real SQS gives
(a ClientError, HTTP 400, not retried); moto alone accepts the same requests."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support.sqs_limits import SqsLimitedEndpoint

BAD_SENDS = [
    {"MessageBody": "nul \x00"},
    {"MessageBody": "noncharacter \uffff"},
    {"MessageBody": "b", "MessageGroupId": "a b", "MessageDeduplicationId": "d"},
    {"MessageBody": "b", "MessageGroupId": "g", "MessageDeduplicationId": "é"},
    {"MessageBody": "b", "MessageGroupId": "g" * 129, "MessageDeduplicationId": "d"},
    {
        "MessageBody": "b",
        "MessageGroupId": "g",
        "MessageDeduplicationId": "d",
        "MessageAttributes": {"E": {"DataType": "String", "StringValue": "esc \x1b[0m"}},
    },
    {"MessageBody": "x" * (256 * 1024 + 1), "MessageGroupId": "g", "MessageDeduplicationId": "d"},
]


@pytest.mark.parametrize("params", BAD_SENDS, ids=range(len(BAD_SENDS)))
def test_the_double_refuses_through_boto3_what_moto_alone_accepts(
    aws: SqsLimitedEndpoint, params: dict[str, object]
) -> None:
    checked = aws.client("sqs")
    url = checked.create_queue(QueueName="limits-double.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    fifo = {"MessageGroupId": "g", "MessageDeduplicationId": "d0"}
    before = len(aws.refusals)
    with pytest.raises(ClientError) as refused:
        checked.send_message(QueueUrl=url, **{**fifo, **params})  # type: ignore[arg-type]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["Error"]["Code"] in {
        "InvalidParameterValue",
        "InvalidMessageContents",
    }
    assert len(aws.refusals) == before + 1  # answered once: botocore does not retry it

    unchecked = aws.session().client("sqs", endpoint_url=aws.moto_url)
    unchecked.send_message(QueueUrl=url, **{**fifo, **params})  # type: ignore[arg-type]
