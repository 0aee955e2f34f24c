"""Kochava postbacks: GET|POST /v1/postbacks/kochava."""

from postback_relay.api import partner_handler
from postback_relay.partners.kochava import ADAPTER

handler = partner_handler(ADAPTER)
