"""The stockpipe HTTP API: a Flask application that serves the volume model under gunicorn.

Runtime modules (copied into the API image): ``app`` (the factory), ``model`` (the model
folder), ``params`` (request validation), ``openapi`` (the API description), ``wsgi``
(gunicorn's entry) and ``gunicorn_conf``. ``api.devtools`` holds tools for tests, the
load test and the demo notebook; it is never copied into the image.
"""
