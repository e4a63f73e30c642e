"""Topic ids read with kafka-python are written as librdkafka writes them: the ids in the store compare equal."""

import uuid

from confluent_kafka import Uuid

from clusterlink.kafka import wire


def test_a_topic_id_reads_as_librdkafka_writes_it_slashes_and_pluses_included() -> None:
    # Bytes whose base64 has '/' and '+' (Kafka's own tools write '_' and '-' there).
    topic_id = uuid.UUID(bytes=bytes.fromhex("fbff3ffbef3e" + "fc" * 10))
    text = wire.topic_id_text(topic_id)
    assert "/" in text and "+" in text and not text.endswith("=")
    msb, lsb = (int.from_bytes(topic_id.bytes[i:i + 8], "big", signed=True) for i in (0, 8))
    assert text == str(Uuid(msb, lsb))
