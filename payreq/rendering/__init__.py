"""What the patient reads, rendered in their language: amounts and dates (`locale`), emails
(`emails`), texts (`texts`) and the sandbox both render in. Pure and below its users: the API
(template validation and preview, the pay page) and the worker's activities import it, and it
imports neither."""
