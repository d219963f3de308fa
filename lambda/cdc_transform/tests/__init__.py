"""Tests of the Firehose transform Lambda."""
