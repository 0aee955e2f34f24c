"""Adjust postbacks: GET|POST /v1/postbacks/adjust."""

from postback_relay.api import partner_handler
from postback_relay.partners.adjust import ADAPTER

handler = partner_handler(ADAPTER)
