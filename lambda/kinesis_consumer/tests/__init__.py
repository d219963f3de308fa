"""Tests of the Kinesis consumer Lambda."""
