// Renders the document served beside this page (/openapi.json) with Swagger
// UI. validatorUrl: null keeps Swagger UI from asking validator.swagger.io
// for a badge: the page talks to its own origin only.
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
