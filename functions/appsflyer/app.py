"""AppsFlyer Push API postbacks: GET|POST /v1/postbacks/appsflyer."""

from postback_relay.api import partner_handler
from postback_relay.partners.appsflyer import ADAPTER

handler = partner_handler(ADAPTER)
