"""Tenjin postbacks: GET|POST /v1/postbacks/tenjin."""

from postback_relay.api import partner_handler
from postback_relay.partners.tenjin import ADAPTER

handler = partner_handler(ADAPTER)
