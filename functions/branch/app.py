"""Branch postbacks: GET|POST /v1/postbacks/branch."""

from postback_relay.api import partner_handler
from postback_relay.partners.branch import ADAPTER

handler = partner_handler(ADAPTER)
