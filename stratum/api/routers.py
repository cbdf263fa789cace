from rest_framework.routers import SimpleRouter


class ApiRouter(SimpleRouter):
    """Routes without a required trailing slash (the spec's paths have none; one is tolerated)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
