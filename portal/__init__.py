"""The citizens' web portal: static files only (index.html, app.css, js/, i18n/), served
by the relay (relay/portal.py). A package only so that setuptools ships the folder as
package data beside `relay/`; nothing here is Python but this line."""
