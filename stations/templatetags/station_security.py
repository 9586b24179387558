"""Template tags of the station page's security card."""

from django import template

from stations.client_certificates import client_certificates_configured

register = template.Library()

register.simple_tag(client_certificates_configured)
