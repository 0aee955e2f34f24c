"""Ad networks without code: GET|POST /v1/postbacks/custom/{name}, mapped by networks/{name}.yaml."""

from postback_relay.api import custom_network_handler

handler = custom_network_handler()
