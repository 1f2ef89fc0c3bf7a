"""Tests of the decision service: state, publishing, audit, HTTP app and gateway integrations."""
