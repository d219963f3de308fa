"""Firehose transform Lambda for DynamoDB change records (deployed alone as a zip)."""
