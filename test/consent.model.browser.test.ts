// @vitest-environment jsdom
// @vitest-environment-options {"url": "https://www.example.com/shop"}
/** The model-based suite, with the browser adapter in jsdom (the harnesses follow the environment). */
import './consent.model.test.js';
