"""Kinesis consumer Lambda of the direct topology (deployed alone as a zip)."""
