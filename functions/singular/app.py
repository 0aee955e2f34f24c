"""Singular postbacks: GET|POST /v1/postbacks/singular."""

from postback_relay.api import partner_handler
from postback_relay.partners.singular import ADAPTER

handler = partner_handler(ADAPTER)
