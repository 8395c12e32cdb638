"""The top layer: Lambda entry points, the only code that knows API Gateway and SQS event shapes
and HTTP answers. It routes webhooks to their source and renders every outcome."""
